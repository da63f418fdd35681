{#- Reading the Parquet lake (ingestion/lake/store.py is the source of truth for its layout).

    The lake may be missing or empty on a fresh clone, and `read_parquet` fails on a glob that
    matches no file; so the staging model asks `lake_events()` for its relation, which is the
    dbt source when at least one Parquet file exists and an empty relation of the same columns
    and types otherwise. Rows count only once their load has a commit record
    (`lake/_loads/<load_id>.json`): a load in flight has its files in place before it commits.
-#}

{#- The data directory, as the profile and sources.yml compute it. -#}
{% macro data_dir() -%}
    {{ return(env_var('AGENTOPS_DATA_DIR', '../data')) }}
{%- endmacro %}

{% macro lake_dir() -%}
    {{ return(data_dir() ~ '/lake') }}
{%- endmacro %}

{% macro lake_has_files(pattern) -%}
    {{ return(adapter.dispatch('lake_has_files', 'agentops_warehouse')(pattern)) }}
{%- endmacro %}

{% macro default__lake_has_files(pattern) -%}
    {%- if not execute -%}
        {{ return(true) }}
    {%- endif -%}
    {%- set result = run_query("select count(*) from glob('" ~ pattern ~ "')") -%}
    {{ return(result.columns[0].values()[0] > 0) }}
{%- endmacro %}

{#- The lake's rows, of committed loads only: all of them, or those of `load_ids` (a list,
    rendered as constants so that DuckDB skips the other files by their Parquet statistics). -#}
{% macro lake_events(source_relation, load_ids=none) -%}
    {{ return(adapter.dispatch('lake_events', 'agentops_warehouse')(source_relation, load_ids)) }}
{%- endmacro %}

{% macro default__lake_events(source_relation, load_ids=none) -%}
    {%- if load_ids is not none and load_ids | length == 0 -%}
    ({{ lake_events_empty() }})
    {%- elif lake_has_files(lake_dir() ~ '/events/*/*.parquet') -%}
    (
        select *
        {% if load_ids is none -%}
        from {{ source_relation }}
        where load_id in ({{ committed_loads_sql() }})
        {%- else -%}
        from {{ lake_files_of(load_ids) }}
        where load_id in ({{ sql_string_list(load_ids) }})
        {%- endif %}
    )
    {%- else -%}
    ({{ lake_events_empty() }})
    {%- endif -%}
{%- endmacro %}

{#- Ids of committed loads: those with a commit record `lake/_loads/<load_id>.json`. -#}
{% macro committed_loads_sql() -%}
    select parse_filename(file, true) as load_id
    from glob('{{ lake_dir() }}/_loads/*.json')
{%- endmacro %}

{#- The Parquet files of `load_ids` only (the loader names them `<load_id>-<seq>.parquet`):
    DuckDB then opens a few files instead of every footer of the lake, which is most of an
    incremental build's read at millions of events. The source itself when no file matches a
    glob per load would (read_parquet refuses a glob that matches nothing). -#}
{% macro lake_files_of(load_ids) -%}
    {%- set events_dir = lake_dir() ~ '/events' -%}
    {%- set with_files = query_values(
        "select distinct split_part(parse_filename(file), '-', 1) as load_id from glob('"
        ~ events_dir ~ "/*/*.parquet') where split_part(parse_filename(file), '-', 1) in ("
        ~ sql_string_list(load_ids) ~ ") order by 1"
    ) -%}
    {%- if not with_files -%}
    ({{ lake_events_empty() }})
    {%- else -%}
    read_parquet([
        {%- for load_id in with_files -%}
        '{{ events_dir }}/*/{{ load_id }}-*.parquet'{{ ", " if not loop.last }}
        {%- endfor -%}
    ], hive_partitioning = true, union_by_name = true)
    {%- endif -%}
{%- endmacro %}

{#- The first column of a query's rows, as a list (empty while dbt parses). -#}
{% macro query_values(sql) -%}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {{ return(run_query(sql).columns[0].values() | list) }}
{%- endmacro %}

{% macro sql_string_list(values) -%}
    {%- for v in values -%}
        '{{ v | replace("'", "''") }}'{{ ", " if not loop.last }}
    {%- endfor -%}
{%- endmacro %}

{#- Zero rows with the lake's columns and types (EVENT_SCHEMA in ingestion/lake/store.py). -#}
{% macro lake_events_empty() -%}
    select
        cast(null as varchar) as event_id,
        cast(null as varchar) as event_version,
        cast(null as varchar) as event_type,
        cast(null as timestamptz) as occurred_at,
        cast(null as struct(tenant_id varchar, workspace_id varchar, project_id varchar))
            as tenant,
        cast(null as struct(
            run_id varchar, agent_id varchar, workflow_id varchar, status varchar,
            started_at timestamptz, ended_at timestamptz
        )) as run,
        cast(null as struct(trace_id varchar, span_id varchar, parent_span_id varchar)) as trace,
        cast(null as struct(step_id varchar, step_type varchar, status varchar, latency_ms double))
            as step,
        cast(null as struct(
            model_call_id varchar, provider varchar, model varchar, step_id varchar,
            latency_ms double, request_id varchar
        )) as model_call,
        cast(null as struct(
            tool_call_id varchar, tool_name varchar, step_id varchar, latency_ms double
        )) as tool_call,
        cast(null as struct(
            policy_id varchar, decision varchar, rule varchar, reason varchar,
            actor struct(actor_type varchar, actor_id varchar)
        )) as policy,
        cast(null as struct(
            budget_id varchar, scope varchar, scope_id varchar, period varchar,
            period_start timestamptz, limit_usd decimal(38, 18), threshold_pct double,
            spend_usd decimal(38, 18), enforcement varchar
        )) as budget,
        cast(null as struct(
            alert_id varchar, alert_type varchar, threshold double, current_value double,
            destination varchar, sent_at timestamptz
        )) as alert,
        cast(null as struct(code varchar, message varchar, type varchar, retryable boolean))
            as error,
        cast(null as struct(
            input_tokens bigint, output_tokens bigint, cached_tokens bigint,
            cache_write_tokens bigint, reasoning_tokens bigint, total_tokens bigint
        )) as resource_usage,
        cast(null as struct(
            cost_usd decimal(38, 18), currency varchar, price_book_version varchar
        )) as cost,
        cast(null as varchar) as attributes,
        cast(null as varchar) as event_hash,
        cast(null as timestamptz) as loaded_at,
        cast(null as varchar) as load_id,
        cast(null as varchar) as source_file,
        cast(null as bigint) as source_line,
        cast(null as date) as event_date
    where false
{%- endmacro %}

{#- The alert outbox the orchestration layer writes (optional; empty until it exists).
    Columns (orchestration/alerts/outbox.py SNAPSHOT_SCHEMA), one row per alert and state:
    dedupe_key, alert_id, alert_type, destination, status (pending|sent|failed), attempts,
    last_attempt_at, sent_at, error_message, created_at, recorded_at. -#}
{% macro outbox_alerts(source_relation) -%}
    {{ return(adapter.dispatch('outbox_alerts', 'agentops_warehouse')(source_relation)) }}
{%- endmacro %}

{% macro default__outbox_alerts(source_relation) -%}
    {%- if lake_has_files(data_dir() ~ '/outbox/alerts/*.parquet') -%}
    {{ source_relation }}
    {%- else -%}
    (
        select
            cast(null as varchar) as dedupe_key,
            cast(null as varchar) as alert_id,
            cast(null as varchar) as alert_type,
            cast(null as varchar) as destination,
            cast(null as varchar) as status,
            cast(null as integer) as attempts,
            cast(null as timestamptz) as last_attempt_at,
            cast(null as timestamptz) as sent_at,
            cast(null as varchar) as error_message,
            cast(null as timestamptz) as created_at,
            cast(null as timestamptz) as recorded_at
        where false
    )
    {%- endif -%}
{%- endmacro %}

{#- A string field of a JSON text column (NULL when absent). -#}
{% macro json_string(column, key) -%}
    {{ return(adapter.dispatch('json_string', 'agentops_warehouse')(column, key)) }}
{%- endmacro %}

{% macro default__json_string(column, key) -%}
    json_extract_string({{ column }}, '$.{{ key }}')
{%- endmacro %}
