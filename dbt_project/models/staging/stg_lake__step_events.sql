with

source as (

    select * from {{ ref('stg_lake__events') }}
    where event_type in ('step.started', 'step.completed', 'step.failed')

),

renamed as (

    select
        event_id,
        event_type,
        step_id,
        step_type,
        step_status,
        step_latency_ms as latency_ms,
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
        loaded_at,
        built_at

    from source

)

select * from renamed
