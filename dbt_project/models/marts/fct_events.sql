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

events as (

    select * from {{ ref('stg_lake__events') }}
    {% if is_incremental() %}
    where built_at > {{ last_built_at() }}
    {% endif %}

),

final as (

    select
        event_id,
        event_version,
        event_type,
        occurred_at,
        event_date,
        tenant_id,
        workspace_id,
        project_id,
        run_id,
        agent_id,
        workflow_id,
        run_status,
        trace_id,
        span_id,
        parent_span_id,
        step_id,
        coalesce(model_call_id, tool_call_id) as call_id,
        is_failed,
        attributes,
        event_hash,
        load_id,
        loaded_at,
        {{ build_stamp() }} as built_at

    from events

)

select * from final
