{#- The body of agg_usage_hourly and agg_usage_daily: one row per time bucket x tenant,
    workspace, project, agent, workflow, provider, model.

    Activity is bucketed by when it happened (occurred_at, UTC):
    - runs: runs started in the bucket (run.started events), on rows without provider/model;
    - model calls, their failures, tokens, cost and latency, on the call's provider/model;
    - failures: every *.failed event (run, step, model call, tool call);
    - tool calls.
    So summing any column over any slice of the grain never double counts.

    Incremental: every bucket that an event new since the last build falls in (including
    past buckets, for late data) is recomputed from all of its rows; `bucket` is the
    delete+insert key, so a recomputed bucket replaces the old one whole. A new price book
    recomputes every bucket. -#}
{% macro rollup_recompute_unit(datepart) -%}
    {{ return(adapter.dispatch('rollup_recompute_unit', 'agentops_warehouse')(datepart)) }}
{%- endmacro %}

{% macro duckdb__rollup_recompute_unit(datepart) -%}
    {{ return(datepart) }}
{%- endmacro %}

{% macro spark__rollup_recompute_unit(datepart) -%}
    {{ return('day') }}
{%- endmacro %}

{% macro usage_rollup(datepart, reprice_all) -%}

{%- set bucket_expr -%}
    {%- if datepart == 'hour' -%}
    {{ utc_hour('occurred_at') }}
    {%- else -%}
    {{ utc_date('occurred_at') }}
    {%- endif -%}
{%- endset -%}
{%- set incremental_branch = is_incremental() and not reprice_all -%}
{#- What a build recomputes: every bucket an event new since the last build falls in, or on
    Spark, whose tables overwrite whole partitions (UTC days), every day one does. -#}
{%- set unit = rollup_recompute_unit(datepart) -%}
{%- set unit_expr = utc_hour('occurred_at') if unit == 'hour' else utc_date('occurred_at') -%}
{%- set unit_type = type_timestamptz() if unit == 'hour' else 'date' -%}
{#- The touched units are looked up first and inlined as literals: DuckDB then reads only the
    row groups of those times (rows arrive roughly in time order) instead of evaluating the
    bucket of every event of the table. A unit test mocks the inputs as CTEs, which a separate
    query cannot see: it gets the same lookup as a CTE of the model's own query. -#}
{%- set inline_lookup = incremental_branch and execute and model.resource_type != 'unit_test' -%}
{#- OpenTelemetry runs whose agent span arrived since the last build (exporters send children
    first): their earlier events move to that agent, so their units are touched too. -#}
{%- set agent_resolved_runs = [] -%}
{%- if inline_lookup -%}
    {%- set agent_resolved_runs = query_values(
        "select " ~ tenant_key_string('run_id') ~ " from " ~ ref('int_trace_agents_resolved')
        ~ " where agent_id is not null and built_at > " ~ last_built_at()
    ) -%}
{%- endif -%}
{%- set new_activity -%}
    built_at > {{ last_built_at() }}
    {%- if agent_resolved_runs %}
    or {{ tenant_key_string('run_id') }} in ({{ sql_string_list(agent_resolved_runs) }})
    {%- endif %}
{%- endset -%}
{%- if inline_lookup -%}
    {%- set touched = run_query(
        "select distinct cast(" ~ unit_expr ~ " as " ~ dbt.type_string() ~ ") from "
        ~ ref('stg_lake__events')
        ~ " where " ~ new_activity ~ " order by 1"
    ).columns[0].values() -%}
{%- else -%}
    {%- set touched = [] -%}
{%- endif -%}
{%- set touched_filter -%}
    {%- if incremental_branch and not inline_lookup -%}
    occurred_at >= (select {{ "min(unit)" if unit == 'hour'
                   else utc_midnight("min(unit)") }} from touched_units)
    and {{ unit_expr }} in (select unit from touched_units)
    {%- elif not touched -%}
    false
    {%- else -%}
    occurred_at >= cast('{{ touched[0] }}' as {{ unit_type }})
    and {{ unit_expr }} in (
        {%- for b in touched %}cast('{{ b }}' as {{ unit_type }}){{ ", " if not loop.last }}{% endfor -%}
    )
    {%- endif -%}
{%- endset -%}

with

{% if incremental_branch and not inline_lookup %}
touched_units as (

    select distinct {{ unit_expr }} as unit
    from {{ ref('stg_lake__events') }}
    where {{ new_activity }}

),
{% endif %}

events_of_spans as (

    select
        {{ bucket_expr }} as bucket,
        *
    from {{ ref('stg_lake__events') }}
    where (event_type in ('run.started', 'tool_call.completed', 'tool_call.failed') or is_failed)
    {% if incremental_branch %}
        and {{ touched_filter }}
    {% endif %}

),

trace_agents as (

    select tenant_id, run_id, agent_id
    from {{ ref('int_trace_agents_resolved') }}
    where agent_id is not null

),

-- An OpenTelemetry run's events under the run's agent (its agent span's), as fct_runs and
-- fct_model_calls have them; each span's own agent until the agent span arrives.
events as (

    select
        events_of_spans.bucket,
        events_of_spans.tenant_id,
        events_of_spans.workspace_id,
        events_of_spans.project_id,
        coalesce(trace_agents.agent_id, events_of_spans.agent_id) as agent_id,
        events_of_spans.workflow_id,
        events_of_spans.provider,
        events_of_spans.model,
        events_of_spans.event_type,
        events_of_spans.run_id,
        events_of_spans.is_failed,
        events_of_spans.loaded_at
    from events_of_spans
    left join trace_agents
        on {{ tenant_key_match('run_id', 'events_of_spans', 'trace_agents') }}

),

model_calls as (

    select
        {{ bucket_expr }} as bucket,
        *
    from {{ ref('fct_model_calls') }}
    {% if incremental_branch %}
    where {{ touched_filter }}
    {% endif %}

),

price_book as (

    select price_book_version from {{ ref('int_price_book_version') }}

),

activity as (

    select
        bucket,
        tenant_id,
        workspace_id,
        project_id,
        agent_id,
        workflow_id,
        provider,
        model,
        case when event_type = 'run.started' then run_id end as started_run_id,
        false as is_model_call,
        false as is_failed_model_call,
        is_failed,
        event_type like 'tool_call.%' as is_tool_call,
        cast(null as bigint) as input_tokens,
        cast(null as bigint) as output_tokens,
        cast(null as bigint) as cached_tokens,
        cast(null as bigint) as cache_write_tokens,
        cast(null as bigint) as reasoning_tokens,
        cast(null as bigint) as total_tokens,
        cast(null as decimal(38, 24)) as cost_usd,
        false as is_unpriced,
        cast(null as double) as latency_ms,
        loaded_at
    from events
    -- A model call's failure is counted from fct_model_calls below (deduped on model_call_id).
    where event_type <> 'model_call.failed'

    union all

    select
        bucket,
        tenant_id,
        workspace_id,
        project_id,
        agent_id,
        workflow_id,
        provider,
        model,
        cast(null as {{ dbt.type_string() }}) as started_run_id,
        true as is_model_call,
        is_failed as is_failed_model_call,
        is_failed,
        false as is_tool_call,
        input_tokens,
        output_tokens,
        cached_tokens,
        cache_write_tokens,
        reasoning_tokens,
        total_tokens,
        cost_usd,
        price_status = 'unpriced' as is_unpriced,
        latency_ms,
        loaded_at
    from model_calls

),

rolled_up as (

    select
        bucket,
        tenant_id,
        workspace_id,
        project_id,
        agent_id,
        workflow_id,
        provider,
        model,
        count(distinct started_run_id) as runs,
        count(*) filter (where is_model_call) as model_calls,
        count(*) filter (where is_failed_model_call) as failed_model_calls,
        count(*) filter (where is_failed) as failures,
        count(*) filter (where is_tool_call) as tool_calls,
        cast(coalesce(sum(input_tokens), 0) as bigint) as input_tokens,
        cast(coalesce(sum(output_tokens), 0) as bigint) as output_tokens,
        cast(coalesce(sum(cached_tokens), 0) as bigint) as cached_tokens,
        cast(coalesce(sum(cache_write_tokens), 0) as bigint) as cache_write_tokens,
        cast(coalesce(sum(reasoning_tokens), 0) as bigint) as reasoning_tokens,
        cast(coalesce(sum(total_tokens), 0) as bigint) as total_tokens,
        -- Priced calls only; NULL when the bucket's calls are all unpriced, 0 without calls.
        case
            when count(*) filter (where is_model_call) = 0 then 0
            else sum(cost_usd)
        end as cost_usd,
        count(*) filter (where is_unpriced) as unpriced_calls,
        {{ percentile_cont('latency_ms', 0.50) }} as latency_p50_ms,
        {{ percentile_cont('latency_ms', 0.95) }} as latency_p95_ms,
        {{ percentile_cont('latency_ms', 0.99) }} as latency_p99_ms,
        max(loaded_at) as last_loaded_at

    from activity
    group by all

)

select
    {{ surrogate_key([
        utc_seconds_text('bucket') if datepart == 'hour' else 'bucket', 'tenant_id', 'workspace_id', 'project_id', 'agent_id', 'workflow_id',
        'provider', 'model',
    ]) }} as usage_bucket_id,
    rolled_up.*,
    price_book.price_book_version,
    {{ build_stamp() }} as built_at
from rolled_up
cross join price_book

{%- endmacro %}

{#- The columns of usage_rollup() after its key and bucket, in order. -#}
{% macro usage_rollup_columns() -%}
    tenant_id, workspace_id, project_id, agent_id, workflow_id, provider, model,
    runs, model_calls, failed_model_calls, failures, tool_calls,
    input_tokens, output_tokens, cached_tokens, cache_write_tokens, reasoning_tokens,
    total_tokens, cost_usd, unpriced_calls, latency_p50_ms, latency_p95_ms, latency_p99_ms,
    last_loaded_at, price_book_version, built_at
{%- endmacro %}
