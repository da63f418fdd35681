{#- One row per span of a run, keyed (tenant_id, run_id, span_id): the trace waterfall. A
    span is what the events of one span_id report (where they disagree, the greatest value,
    so every engine picks the same): its kind (the run, a step, a model call, a
    tool call, a policy check), when it started and ended, its model calls' tokens and cost,
    its latest error and policy decision.

    A call span reported only by its completion event started `latency_ms` before it; every
    other span starts at its first event and ends at its last.

    Incremental on fct_runs: every span of a run that fct_runs rewrote since this model last
    wrote (a run with a new event, or every run under a new price book) is recomputed from
    all of that run's events, delete+insert on the run. On Spark a table rebuilt by every
    build, as fct_runs is there (a plain Parquet table cannot delete a run's rows). -#}
-- depends_on: {{ ref('fct_runs') }}
{{
    config(
        materialized=by_engine(duckdb='incremental', spark='table'),
        incremental_strategy='delete+insert',
        unique_key=tenant_key_columns('run_id'),
        on_schema_change='fail',
    )
}}

{#- The latest event of a span first; ties (one instant) broken by event id on every engine. -#}
{%- set latest = sort_key(['occurred_at', 'event_id']) %}

with

{% if is_incremental() %}
-- No event of such a run happened before its first_event_at, and the bound lets DuckDB skip
-- the row groups of other days.
touched_runs as (

    select {{ tenant_key('run_id') }}, first_event_at
    from {{ ref('fct_runs') }}
    where built_at > {{ last_built_at() }}

),
{% endif %}

events as (

    select * from {{ ref('stg_lake__events') }}
    {% if is_incremental() %}
    where occurred_at >= (select min(first_event_at) from touched_runs)
        and {{ tenant_key_in('run_id', 'touched_runs') }}
    {% endif %}

),

model_calls as (

    select * from {{ ref('fct_model_calls') }}
    {% if is_incremental() %}
    where occurred_at >= (select min(first_event_at) from touched_runs)
        and {{ tenant_key_in('run_id', 'touched_runs') }}
    {% endif %}

),

price_book as (

    select price_book_version from {{ ref('int_price_book_version') }}

),

spans as (

    select
        tenant_id,
        run_id,
        span_id,
        max(trace_id) as trace_id,
        max(parent_span_id) as parent_span_id,
        case
            when bool_or(event_type like 'run.%') then 'run'
            when bool_or(event_type like 'step.%') then 'step'
            when bool_or(event_type like 'model_call.%') then 'model_call'
            when bool_or(event_type like 'tool_call.%') then 'tool_call'
            when bool_or(event_type = 'policy.decision') then 'policy'
            else 'event'
        end as span_kind,
        min(occurred_at) as first_event_at,
        max(occurred_at) as last_event_at,
        bool_or(is_failed) as is_failed,
        count(*) as events,
        {{ distinct_sorted_text('event_type', ', ') }} as event_types,
        max(step_id) as step_id,
        max(step_type) as step_type,
        max(coalesce(model_call_id, tool_call_id)) as call_id,
        max(tool_name) as tool_name,
        max(coalesce(step_latency_ms, tool_call_latency_ms)) as reported_latency_ms,
        -- The latest failure of the span (a NULL is skipped, as DuckDB's max_by does and
        -- Spark's does not).
        max_by(error_code, {{ latest }}) filter (where is_failed and error_code is not null)
            as error_code,
        max_by(error_message, {{ latest }})
            filter (where is_failed and error_message is not null) as error_message,
        -- The latest decision of the span.
        max_by(policy_id, {{ latest }})
            filter (where event_type = 'policy.decision' and policy_id is not null) as policy_id,
        max_by(policy_decision, {{ latest }})
            filter (where event_type = 'policy.decision' and policy_decision is not null) as policy_decision,
        max_by(policy_reason, {{ latest }})
            filter (where event_type = 'policy.decision' and policy_reason is not null) as policy_reason,
        max(loaded_at) as last_loaded_at

    from events
    group by tenant_id, run_id, span_id

),

-- A span normally holds one model call; a producer that reuses a span for several calls
-- gets their tokens and cost added up, never a span counted twice.
span_calls as (

    select
        tenant_id,
        run_id,
        span_id,
        count(*) as model_calls,
        min_by(provider, {{ sort_key(['occurred_at', 'model_call_id']) }}) as provider,
        min_by(model, {{ sort_key(['occurred_at', 'model_call_id']) }}) as model,
        max(latency_ms) as latency_ms,
        cast(sum(input_tokens) as bigint) as input_tokens,
        cast(sum(output_tokens) as bigint) as output_tokens,
        cast(sum(cached_tokens) as bigint) as cached_tokens,
        cast(sum(cache_write_tokens) as bigint) as cache_write_tokens,
        cast(sum(reasoning_tokens) as bigint) as reasoning_tokens,
        cast(sum(total_tokens) as bigint) as total_tokens,
        -- Priced calls only: NULL when every call of the span is unpriced (never 0).
        cast(sum(cost_usd) as decimal(38, 24)) as cost_usd,
        case
            when bool_or(price_status = 'unpriced') then 'unpriced' else 'priced'
        end as price_status,
        bool_or(is_cache_share_unknown) as is_cache_share_unknown

    from model_calls
    group by tenant_id, run_id, span_id

),

joined as (

    select
        spans.*,
        coalesce(span_calls.model_calls, 0) as model_calls,
        span_calls.provider,
        span_calls.model,
        span_calls.input_tokens,
        span_calls.output_tokens,
        span_calls.cached_tokens,
        span_calls.cache_write_tokens,
        span_calls.reasoning_tokens,
        span_calls.total_tokens,
        span_calls.cost_usd,
        span_calls.price_status,
        span_calls.is_cache_share_unknown,
        coalesce(span_calls.latency_ms, spans.reported_latency_ms) as latency_ms

    from spans
    left join span_calls
        on spans.tenant_id = span_calls.tenant_id
        and spans.run_id = span_calls.run_id
        and spans.span_id = span_calls.span_id

),

final as (

    select
        span_id,
        tenant_id,
        run_id,
        trace_id,
        parent_span_id,
        span_kind,
        case
            when span_kind in ('model_call', 'tool_call') and latency_ms is not null
                then {{ minus_ms('last_event_at', 'latency_ms') }}
            else first_event_at
        end as started_at,
        last_event_at as ended_at,
        latency_ms,
        is_failed,
        events,
        event_types,
        step_id,
        step_type,
        call_id,
        tool_name,
        provider,
        model,
        model_calls,
        input_tokens,
        output_tokens,
        cached_tokens,
        cache_write_tokens,
        reasoning_tokens,
        total_tokens,
        cost_usd,
        price_status,
        is_cache_share_unknown,
        price_book.price_book_version,
        error_code,
        error_message,
        policy_id,
        policy_decision,
        policy_reason,
        first_event_at,
        last_event_at,
        last_loaded_at,
        {{ build_stamp() }} as built_at

    from joined
    cross join price_book

)

select * from final
