with

source as (

    select * from {{ ref('stg_lake__events') }}
    where event_type in ('tool_call.completed', 'tool_call.failed')

),

renamed as (

    select
        event_id,
        event_type,
        tool_call_id,
        tool_name,
        tool_call_step_id as step_id,
        tool_call_latency_ms as latency_ms,
        run_id,
        tenant_id,
        workspace_id,
        project_id,
        agent_id,
        workflow_id,
        trace_id,
        span_id,
        parent_span_id,
        occurred_at,
        is_failed,
        error_code,
        error_message,
        loaded_at,
        built_at

    from source

)

select * from renamed
