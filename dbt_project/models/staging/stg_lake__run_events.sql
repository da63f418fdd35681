with

source as (

    select * from {{ ref('stg_lake__events') }}
    where event_type in ('run.started', 'run.completed', 'run.failed')

),

renamed as (

    select
        event_id,
        event_type,
        run_id,
        tenant_id,
        workspace_id,
        project_id,
        agent_id,
        workflow_id,
        run_status,
        run_started_at,
        run_ended_at,
        trace_id,
        span_id,
        occurred_at,
        error_code,
        error_message,
        error_type,
        is_error_retryable,
        -- The run's own roll-up (run.completed / run.failed); informational per the contract.
        input_tokens as reported_input_tokens,
        output_tokens as reported_output_tokens,
        cached_tokens as reported_cached_tokens,
        cache_write_tokens as reported_cache_write_tokens,
        reasoning_tokens as reported_reasoning_tokens,
        total_tokens as reported_total_tokens,
        loaded_at,
        built_at

    from source

)

select * from renamed
