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

failures as (

    select * from {{ ref('stg_lake__failures') }}
    {% if is_incremental() %}
    where built_at > {{ last_built_at() }}
    {% endif %}

),

final as (

    select
        event_id,
        event_type,
        failed_entity,
        error_code,
        error_message,
        error_type,
        is_error_retryable,
        run_id,
        step_id,
        model_call_id,
        tool_call_id,
        tool_name,
        provider,
        model,
        tenant_id,
        workspace_id,
        project_id,
        agent_id,
        workflow_id,
        trace_id,
        span_id,
        parent_span_id,
        occurred_at,
        {{ utc_date('occurred_at') }} as failed_date,
        loaded_at,
        {{ build_stamp() }} as built_at

    from failures

)

select * from final
