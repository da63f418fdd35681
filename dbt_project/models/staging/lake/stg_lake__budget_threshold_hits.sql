with

source as (

    select * from {{ ref('stg_lake__events') }}
    where event_type = 'budget.threshold_hit'

),

renamed as (

    select
        event_id,
        budget_id,
        budget_scope,
        budget_scope_id,
        budget_period,
        budget_period_start,
        budget_limit_usd,
        budget_threshold_pct,
        budget_spend_usd,
        budget_enforcement,
        run_id,
        tenant_id,
        workspace_id,
        project_id,
        agent_id,
        workflow_id,
        trace_id,
        -- Set by producers that key their alerts (the orchestration layer does).
        {{ json_string('attributes', 'dedupe_key') }} as attributes_dedupe_key,
        occurred_at,
        loaded_at,
        built_at

    from source

)

select * from renamed
