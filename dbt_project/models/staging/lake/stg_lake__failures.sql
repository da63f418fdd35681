with

source as (

    select * from {{ ref('stg_lake__events') }}
    where is_failed

),

renamed as (

    select
        event_id,
        event_type,
        -- run, step, model_call or tool_call: what failed.
        {{ dbt.split_part('event_type', "'.'", 1) }} as failed_entity,
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
        loaded_at,
        built_at

    from source

)

select * from renamed
