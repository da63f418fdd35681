{#- One row per run of a tenant, keyed (tenant_id, run_id). A run changes as its events arrive (started, then completed), so the
    incremental branch recomputes every run that has an event new since this model last wrote,
    from all of that run's events; a new price book recomputes every run's cost. -#}
{%- set reprice_all = price_book_changed(ref('int_price_book_version')) -%}
{#- Spark: a whole table. A run's row changes as its events arrive, and it has no partition that
    stays put (its start moves with late events), while a plain Parquet table can only append or
    overwrite whole partitions. -#}
{{
    config(        materialized=by_engine(duckdb='incremental', spark='table'),
        incremental_strategy='delete+insert',
        unique_key=tenant_key_columns('run_id'),
        on_schema_change='fail',
    )
}}

with

{% if is_incremental() and not reprice_all %}
touched_runs as (

    select {{ tenant_key('run_id') }}, min(occurred_at) as first_new_event_at
    from {{ ref('stg_lake__events') }}
    where built_at > {{ last_built_at() }}
    group by all

),

-- No event of a touched run happened before this: its older events are no earlier than the
-- run's first_event_at as this model last computed it. A bound on occurred_at lets DuckDB
-- skip row groups by their min/max.
touched_since as (

    select least(
        (select min(first_new_event_at) from touched_runs),
        (
            select min(first_event_at) from {{ this }}
            where {{ tenant_key_in('run_id', 'touched_runs') }}
        )
    ) as occurred_at

),
{% endif %}

events as (

    select * from {{ ref('stg_lake__events') }}
    {% if is_incremental() and not reprice_all %}
    where occurred_at >= (select occurred_at from touched_since)
        and {{ tenant_key_in('run_id', 'touched_runs') }}
    {% endif %}

),

model_calls as (

    select * from {{ ref('fct_model_calls') }}
    {% if is_incremental() and not reprice_all %}
    where occurred_at >= (select occurred_at from touched_since)
        and {{ tenant_key_in('run_id', 'touched_runs') }}
    {% endif %}

),

price_book as (

    select price_book_version from {{ ref('int_price_book_version') }}

),

-- Runs reported by OpenTelemetry spans: their agent is the trace's agent span, whichever
-- request brought it (int_trace_agents_resolved).
trace_agents as (

    select * from {{ ref('int_trace_agents_resolved') }}

),

runs_from_events as (

    select
        {{ tenant_key('run_id') }},
        min_by(workspace_id, occurred_at) as workspace_id,
        min_by(project_id, occurred_at) as project_id,
        min_by(agent_id, occurred_at) as agent_id,
        min_by(workflow_id, occurred_at) filter (where workflow_id is not null) as workflow_id,
        min_by(trace_id, occurred_at) as trace_id,
        bool_or(event_type = 'run.started') as has_start_event,
        bool_or(event_type = 'run.failed') as has_failed_event,
        bool_or(event_type = 'run.completed') as has_completed_event,
        max_by(run_status, occurred_at) filter (where event_type = 'run.completed')
            as completed_status,
        coalesce(
            min(run_started_at),
            min(occurred_at) filter (where event_type = 'run.started'),
            min(occurred_at)
        ) as started_at,
        coalesce(
            max(run_ended_at) filter (where event_type in ('run.completed', 'run.failed')),
            max(occurred_at) filter (where event_type in ('run.completed', 'run.failed'))
        ) as terminal_at,
        count(distinct step_id) filter (where step_id is not null) as steps,
        count(distinct step_id) filter (where event_type = 'step.failed') as failed_steps,
        count(distinct tool_call_id) filter (where tool_call_id is not null) as tool_calls,
        count(distinct tool_call_id) filter (where event_type = 'tool_call.failed')
            as failed_tool_calls,
        count(*) filter (where is_failed) as failures,
        max_by(error_code, occurred_at) filter (where event_type = 'run.failed')
            as error_code,
        max_by(error_message, occurred_at) filter (where event_type = 'run.failed')
            as error_message,
        max_by(error_type, occurred_at) filter (where event_type = 'run.failed')
            as error_type,
        -- The run's own roll-up from its terminal event (informational; compared with the
        -- sum of its model calls by dq_run_usage_mismatches).
        max_by(input_tokens, occurred_at) filter (where event_type in ('run.completed', 'run.failed'))
            as reported_input_tokens,
        max_by(output_tokens, occurred_at) filter (where event_type in ('run.completed', 'run.failed'))
            as reported_output_tokens,
        max_by(cached_tokens, occurred_at) filter (where event_type in ('run.completed', 'run.failed'))
            as reported_cached_tokens,
        max_by(cache_write_tokens, occurred_at)
            filter (where event_type in ('run.completed', 'run.failed'))
            as reported_cache_write_tokens,
        max_by(reasoning_tokens, occurred_at)
            filter (where event_type in ('run.completed', 'run.failed'))
            as reported_reasoning_tokens,
        max_by(total_tokens, occurred_at) filter (where event_type in ('run.completed', 'run.failed'))
            as reported_total_tokens,
        count(*) as events,
        min(occurred_at) as first_event_at,
        max(occurred_at) as last_event_at,
        max(loaded_at) as last_loaded_at

    from events
    group by {{ tenant_key('run_id') }}

),

runs_from_calls as (

    select
        {{ tenant_key('run_id') }},
        count(*) as model_calls,
        count(*) filter (where is_failed) as failed_model_calls,
        count(*) filter (where price_status = 'unpriced') as unpriced_calls,
        cast(sum(input_tokens) as bigint) as input_tokens,
        cast(sum(output_tokens) as bigint) as output_tokens,
        cast(sum(cached_tokens) as bigint) as cached_tokens,
        cast(sum(cache_write_tokens) as bigint) as cache_write_tokens,
        cast(sum(reasoning_tokens) as bigint) as reasoning_tokens,
        cast(sum(total_tokens) as bigint) as total_tokens,
        sum(cost_usd) as cost_usd

    from model_calls
    group by {{ tenant_key('run_id') }}

),

final as (

    select
        r.run_id,
        r.tenant_id,
        r.workspace_id,
        r.project_id,
        coalesce(trace_agents.agent_id, r.agent_id) as agent_id,
        r.workflow_id,
        r.trace_id,
        case
            when r.has_failed_event then 'failed'
            when r.has_completed_event and r.completed_status in ('cancelled', 'failed')
                then r.completed_status
            when r.has_completed_event then 'succeeded'
            else 'running'
        end as run_status,
        r.has_failed_event or r.has_completed_event as is_ended,
        r.has_start_event,
        r.started_at,
        case when r.has_failed_event or r.has_completed_event then r.terminal_at end
            as ended_at,
        case
            when r.has_failed_event or r.has_completed_event
                then {{ diff_ms('r.started_at', 'r.terminal_at') }}
        end as duration_ms,
        r.steps,
        r.failed_steps,
        coalesce(c.model_calls, 0) as model_calls,
        coalesce(c.failed_model_calls, 0) as failed_model_calls,
        coalesce(c.unpriced_calls, 0) as unpriced_calls,
        r.tool_calls,
        r.failed_tool_calls,
        r.failures,
        coalesce(c.input_tokens, 0) as input_tokens,
        coalesce(c.output_tokens, 0) as output_tokens,
        coalesce(c.cached_tokens, 0) as cached_tokens,
        coalesce(c.cache_write_tokens, 0) as cache_write_tokens,
        coalesce(c.reasoning_tokens, 0) as reasoning_tokens,
        coalesce(c.total_tokens, 0) as total_tokens,
        -- Sum of the priced calls (unpriced ones are counted in unpriced_calls): NULL when
        -- the run's calls are all unpriced, since an unknown price is never 0; 0 without calls.
        cast(
            case when c.model_calls is null then 0 else c.cost_usd end as decimal(38, 24)
        ) as cost_usd,
        price_book.price_book_version,
        r.error_code,
        r.error_message,
        r.error_type,
        -- NULL, not the contract's required zeros, when the span that ended the run had no usage
        {%- for kind in ['input', 'output', 'cached', 'cache_write', 'reasoning', 'total'] %}
        case
            when not coalesce(trace_agents.is_rollup_unreported, false)
                then r.reported_{{ kind }}_tokens
        end as reported_{{ kind }}_tokens,
        {%- endfor %}
        r.events,
        r.first_event_at,
        r.last_event_at,
        r.last_loaded_at,
        {{ build_stamp() }} as built_at

    from runs_from_events as r
    left join runs_from_calls as c
        on {{ tenant_key_match('run_id', 'r', 'c') }}
    left join trace_agents
        on {{ tenant_key_match('run_id', 'r', 'trace_agents') }}
    cross join price_book

)

select * from final
