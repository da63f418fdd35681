{#- One row per model call (model_call.completed / model_call.failed) of a tenant, keyed
    (tenant_id, model_call_id): first loaded wins on the call's key as on the event's. A later
    event of the same tenant that reuses a model_call_id is a conflict: it stays in
    stg_lake__events and fct_events, and dq_conflicting_ids lists it beside the winner. The pricing models build on exactly these columns
    (interface agreed with pricing; change only together). Incremental for the same reason as
    stg_lake__events: the dedupe needs the calls already kept. It reads the events
    stg_lake__events wrote since this model last wrote. -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
    )
}}

with

source as (

    select * from {{ ref('stg_lake__events') }}
    where event_type in ('model_call.completed', 'model_call.failed')
    {% if is_incremental() %}
        and built_at > {{ last_built_at() }}
    {% endif %}

),

renamed as (

    select
        model_call_id,
        event_id,
        event_type,
        is_failed,
        occurred_at,
        loaded_at,
        tenant_id,
        workspace_id,
        project_id,
        run_id,
        agent_id,
        workflow_id,
        trace_id,
        span_id,
        parent_span_id,
        model_call_step_id as step_id,
        provider,
        model,
        request_id,
        cast(model_call_latency_ms as double) as latency_ms,
        coalesce(input_tokens, 0) as input_tokens,
        coalesce(output_tokens, 0) as output_tokens,
        coalesce(cached_tokens, 0) as cached_tokens,
        coalesce(cache_write_tokens, 0) as cache_write_tokens,
        coalesce(reasoning_tokens, 0) as reasoning_tokens,
        error_code,
        error_type,
        error_message,
        cast(reported_cost_usd as decimal(38, 18)) as reported_cost_usd,
        -- The producer reported no cache-read count (an OpenTelemetry span without
        -- gen_ai.usage.cache_read.input_tokens): priced as if nothing was read from cache.
        coalesce({{ json_string('attributes', 'cache_share_unknown') }} = 'true', false)
            as is_cache_share_unknown,
        -- Not part of the pricing interface: when this build wrote the row (see
        -- macros/incremental.sql), then the tie-breakers of "first loaded wins".
        {{ build_stamp() }} as built_at,
        load_id,
        source_file,
        source_line

    from source

),

repeated_call_ids as (

    select {{ tenant_key('model_call_id') }}
    from source
    group by all
    having count(*) > 1

),

-- Events whose call was kept from an earlier event: found on the key columns alone, so the
-- wide rows are never sorted.
losing_events as (

    select {{ tenant_key('event_id') }}
    from source
    where {{ tenant_key_in('model_call_id', 'repeated_call_ids') }}
    qualify row_number() over (
        partition by {{ tenant_key('model_call_id') }}
        order by loaded_at, load_id, source_file, source_line
    ) > 1

),

first_loaded as (

    select
        model_call_id, event_id, event_type, is_failed, occurred_at, loaded_at, tenant_id,
        workspace_id, project_id, run_id, agent_id, workflow_id, trace_id, span_id,
        parent_span_id, step_id, provider, model, request_id, latency_ms, input_tokens,
        output_tokens, cached_tokens, cache_write_tokens, reasoning_tokens, error_code,
        error_type, error_message, reported_cost_usd, is_cache_share_unknown, built_at
    from renamed
    where not exists (
        select 1 from losing_events
        where {{ tenant_key_match('event_id', 'losing_events', 'renamed') }}
    )

)

select * from first_loaded
{% if is_incremental() %}
where not exists (
    select 1 from {{ this }} as already_kept
    where {{ tenant_key_match('model_call_id', 'already_kept', 'first_loaded') }}
)
{% endif %}
