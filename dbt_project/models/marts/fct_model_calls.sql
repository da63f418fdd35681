{#- One row per model call of a tenant, keyed (tenant_id, model_call_id), priced. Incremental: the calls stg_lake__model_calls wrote
    since this model last wrote (built_at, macros/incremental.sql); when the price book changes
    (new genai-prices release or an edited override) every call is repriced. -#}
{%- set reprice_all = price_book_changed(ref('int_price_book_version')) -%}
{{- refuse_incremental_reprice(reprice_all) }}
{#- Spark: every row of the incremental branch is new (a price book change is a full refresh
    there, see refuse_incremental_reprice), so appending gives the same rows. -#}
{#- Runs whose OpenTelemetry agent span arrived since this model last wrote (after some of
    their calls: exporters send children first): their calls are rewritten under that agent.
    Looked up first and inlined, so the usual build, which has none, reads as before. -#}
{%- set agent_resolved_runs = [] -%}
{#- Not on Spark, whose incremental branch appends (rewritten calls would be doubled): there
    a late agent span names the calls' agent at the next full refresh. -#}
{%- if execute and is_incremental() and not reprice_all and target.type != 'spark' -%}
    {%- set agent_resolved_runs = query_values(
        "select " ~ tenant_key_string('run_id') ~ " from " ~ ref('int_trace_agents_resolved')
        ~ " where agent_id is not null and built_at > " ~ last_built_at()
    ) -%}
{%- endif -%}
{{
    config(
        materialized='incremental',
        incremental_strategy=by_engine(duckdb='delete+insert', spark='append'),
        unique_key=tenant_key_columns('model_call_id'),
        on_schema_change='fail',
    )
}}

with

calls as (

    select * from {{ ref('stg_lake__model_calls') }}
    {% if is_incremental() and not reprice_all %}
    where built_at > {{ last_built_at() }}
    {%- if agent_resolved_runs %}
        or {{ tenant_key_string('run_id') }} in ({{ sql_string_list(agent_resolved_runs) }})
    {%- endif %}
    {% endif %}

),

priced as (

    select * from {{ ref('int_model_calls_priced') }}
    {% if is_incremental() and not reprice_all %}
    -- a new call was priced in the build that registered it or later, so after this model's
    -- last write: the rest of the table (millions of rows) is skipped by its zone maps
    where built_at > {{ last_built_at() }}
    {%- if agent_resolved_runs %}
        or {{ tenant_key_in('model_call_id', 'calls') }}
    {%- endif %}
    {% endif %}

),

trace_agents as (

    select tenant_id, run_id, agent_id from {{ ref('int_trace_agents_resolved') }}

),

price_book as (

    select price_book_version from {{ ref('int_price_book_version') }}

),

final as (

    select
        calls.model_call_id,
        calls.event_id,
        calls.run_id,
        calls.step_id,
        calls.tenant_id,
        calls.workspace_id,
        calls.project_id,
        coalesce(trace_agents.agent_id, calls.agent_id) as agent_id,
        calls.workflow_id,
        calls.trace_id,
        calls.span_id,
        calls.parent_span_id,
        calls.request_id,
        calls.provider,
        calls.model,
        priced.price_provider_id,
        priced.price_model_id,
        calls.is_failed,
        calls.error_code,
        calls.error_type,
        calls.error_message,
        calls.occurred_at,
        {{ utc_date('calls.occurred_at') }} as call_date,
        calls.latency_ms,
        calls.input_tokens,
        calls.output_tokens,
        calls.cached_tokens,
        calls.cache_write_tokens,
        calls.reasoning_tokens,
        calls.input_tokens + calls.output_tokens as total_tokens,
        calls.is_cache_share_unknown,
        cast(priced.cost_usd as decimal(38, 24)) as cost_usd,
        coalesce(priced.price_status, 'unpriced') as price_status,
        coalesce(priced.price_book_version, price_book.price_book_version)
            as price_book_version,
        calls.reported_cost_usd,
        calls.loaded_at,
        {{ build_stamp() }} as built_at

    from calls
    left join priced
        on {{ tenant_key_match('model_call_id', 'calls', 'priced') }}
    left join trace_agents
        on {{ tenant_key_match('run_id', 'calls', 'trace_agents') }}
    cross join price_book

)

select * from final
