{#- Append-only: each build appends the events stg_lake__events wrote since this model
    last wrote; stg_lake__events never rewrites an event, so nothing here is ever replaced. -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
    )
}}

with

decisions as (

    select * from {{ ref('stg_lake__policy_decisions') }}
    {% if is_incremental() %}
    where built_at > {{ last_built_at() }}
    {% endif %}

),

final as (

    select
        event_id,
        policy_id,
        decision,
        rule,
        reason,
        actor_type,
        actor_id,
        run_id,
        tenant_id,
        workspace_id,
        project_id,
        agent_id,
        workflow_id,
        trace_id,
        span_id,
        occurred_at,
        loaded_at,
        {{ build_stamp() }} as built_at

    from decisions

)

select * from final
