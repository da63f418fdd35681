with

source as (

    select * from {{ ref('stg_lake__events') }}
    where event_type = 'alert.emitted'

),

renamed as (

    select
        event_id,
        alert_id,
        alert_type,
        alert_threshold,
        alert_current_value,
        alert_destination,
        alert_sent_at,
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
