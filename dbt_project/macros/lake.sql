{#- Reading the Parquet lake (ingestion/lake/store.py is the source of truth for its layout).

    The lake may be missing or empty on a fresh clone, and both engines fail on a path that
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

{#- A Parquet file or folder of the data directory as a relation: what sources.yml's
    `external_location` reads on DuckDB, Spark's `parquet.`path`` on Spark. -#}
{% macro parquet_relation(path) -%}
    {{ return(adapter.dispatch('parquet_relation', 'agentops_warehouse')(path)) }}
{%- endmacro %}

{% macro duckdb__parquet_relation(path) -%}
    read_parquet('{{ path }}')
{%- endmacro %}

{% macro spark__parquet_relation(path) -%}
    parquet.`{{ path }}`
{%- endmacro %}

{% macro lake_has_files(pattern) -%}
    {{ return(adapter.dispatch('lake_has_files', 'agentops_warehouse')(pattern)) }}
{%- endmacro %}

{% macro duckdb__lake_has_files(pattern) -%}
    {%- if not execute -%}
        {{ return(true) }}
    {%- endif -%}
    {%- set result = run_query("select count(*) from glob('" ~ pattern ~ "')") -%}
    {{ return(result.columns[0].values()[0] > 0) }}
{%- endmacro %}

{#- Spark SQL cannot list files, and fails on a path that matches none: the build looks the
    patterns up before dbt starts and passes what it found as the var `existing_files`
    (patterns relative to the data directory; orchestration/warehouse/spark.py). -#}
{% macro spark__lake_has_files(pattern) -%}
    {%- if not execute -%}
        {{ return(true) }}
    {%- endif -%}
    {%- set relative = pattern[(data_dir() | length) + 1:] -%}
    {%- set found = var('existing_files', none) -%}
    {%- if found is none or relative not in found -%}
        {{ exceptions.raise_compiler_error(
            "the build did not look up '" ~ relative ~ "' before dbt started; run "
            ~ "`agentops-wh build --engine spark`, which does"
        ) }}
    {%- endif -%}
    {{ return(found[relative]) }}
{%- endmacro %}

{#- The lake's rows, of committed loads only: all of them, or those of `load_ids` (a list). -#}
{% macro lake_events(source_relation, load_ids=none) -%}
    {{ return(adapter.dispatch('lake_events', 'agentops_warehouse')(source_relation, load_ids)) }}
{%- endmacro %}

{#- `load_ids` are rendered as constants so that DuckDB skips the other files by their Parquet
    statistics. -#}
{% macro duckdb__lake_events(source_relation, load_ids=none) -%}
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

{#- The source relation is DuckDB's read_parquet; Spark reads the same folder. A few loads are
    read from their own files (a glob on their names), many from the whole folder. -#}
{% macro spark__lake_events(source_relation, load_ids=none) -%}
    {%- set with_files = none -%}
    {%- if load_ids is not none and load_ids | length > 0 and execute -%}
        {%- set with_files = query_values(
            "select load_id from (" ~ committed_loads_sql(with_files_only=true) ~ ") where load_id in ("
            ~ sql_string_list(load_ids) ~ ") order by 1"
        ) -%}
    {%- endif -%}
    {%- if (load_ids is not none and load_ids | length == 0) or with_files == []
        or not lake_has_files(lake_dir() ~ '/events/*/*.parquet') -%}
    ({{ lake_events_empty() }})
    {%- elif load_ids is none -%}
    (
        select * from {{ parquet_relation(lake_dir() ~ '/events') }}
        where load_id in ({{ committed_loads_sql() }})
    )
    {%- else -%}
    (
        select *
        {% if with_files is not none and with_files | length <= 200 -%}
        from parquet.`{{ lake_dir() }}/events/*/{
            {%- for load_id in with_files %}{{ load_id }}-*{{ "," if not loop.last }}{% endfor -%}
        }.parquet`
        {%- else -%}
        from {{ parquet_relation(lake_dir() ~ '/events') }}
        {%- endif %}
        where load_id in ({{ sql_string_list(load_ids) }})
    )
    {%- endif -%}
{%- endmacro %}

{#- Ids of committed loads (with lake files only, if asked): the loads whose commit record
    `lake/_loads/<load_id>.json` the build listed before dbt started
    (`reference/committed_loads.parquet`, ingestion/reference/model_refs.py), so that every load a build
    reads had its model references resolved first. A load that commits later waits for the
    next build. -#}
{% macro committed_loads_sql(with_files_only=false) -%}
    select load_id
    from {{ parquet_relation(data_dir() ~ '/reference/committed_loads.parquet') }}
    {%- if with_files_only %}
    where lake_files > 0
    {%- endif %}
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
        '{{ dbt.escape_single_quotes(v) }}'{{ ", " if not loop.last }}
    {%- endfor -%}
{%- endmacro %}

{#- Zero rows with the lake's columns and types (EVENT_SCHEMA in ingestion/lake/store.py). -#}
{% macro lake_events_empty() -%}
    {%- set s = dbt.type_string() -%}
    {%- set ts = type_timestamptz() -%}
    {%- set money = 'decimal(38, 18)' -%}
    select
        cast(null as {{ s }}) as event_id,
        cast(null as {{ s }}) as event_version,
        cast(null as {{ s }}) as event_type,
        cast(null as {{ ts }}) as occurred_at,
        cast(null as {{ type_struct([('tenant_id', s), ('workspace_id', s), ('project_id', s)]) }})
            as tenant,
        cast(null as {{ type_struct([
            ('run_id', s), ('agent_id', s), ('workflow_id', s), ('status', s),
            ('started_at', ts), ('ended_at', ts),
        ]) }}) as run,
        cast(null as {{ type_struct([('trace_id', s), ('span_id', s), ('parent_span_id', s)]) }})
            as trace,
        cast(null as {{ type_struct([
            ('step_id', s), ('step_type', s), ('status', s), ('latency_ms', 'double'),
        ]) }}) as step,
        cast(null as {{ type_struct([
            ('model_call_id', s), ('provider', s), ('model', s), ('step_id', s),
            ('latency_ms', 'double'), ('request_id', s),
        ]) }}) as model_call,
        cast(null as {{ type_struct([
            ('tool_call_id', s), ('tool_name', s), ('step_id', s), ('latency_ms', 'double'),
        ]) }}) as tool_call,
        cast(null as {{ type_struct([
            ('policy_id', s), ('decision', s), ('rule', s), ('reason', s),
            ('actor', type_struct([('actor_type', s), ('actor_id', s)])),
        ]) }}) as policy,
        cast(null as {{ type_struct([
            ('budget_id', s), ('scope', s), ('scope_id', s), ('period', s),
            ('period_start', ts), ('limit_usd', money), ('threshold_pct', 'double'),
            ('spend_usd', money), ('enforcement', s),
        ]) }}) as budget,
        cast(null as {{ type_struct([
            ('alert_id', s), ('alert_type', s), ('threshold', 'double'),
            ('current_value', 'double'), ('destination', s), ('sent_at', ts),
        ]) }}) as alert,
        cast(null as {{ type_struct([
            ('code', s), ('message', s), ('type', s), ('retryable', 'boolean'),
        ]) }}) as error,
        cast(null as {{ type_struct([
            ('input_tokens', 'bigint'), ('output_tokens', 'bigint'), ('cached_tokens', 'bigint'),
            ('cache_write_tokens', 'bigint'), ('reasoning_tokens', 'bigint'),
            ('total_tokens', 'bigint'),
        ]) }}) as resource_usage,
        cast(null as {{ type_struct([
            ('cost_usd', money), ('currency', s), ('price_book_version', s),
        ]) }}) as cost,
        cast(null as {{ s }}) as attributes,
        cast(null as {{ s }}) as event_hash,
        cast(null as {{ ts }}) as loaded_at,
        cast(null as {{ s }}) as load_id,
        cast(null as {{ s }}) as source_file,
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

{#- A source of the data directory: its dbt relation (sources.yml's external_location) on
    DuckDB; on Spark, which has no external_location, its Parquet file or folder. -#}
{% macro data_source(source_relation, path) -%}
    {{ return(adapter.dispatch('data_source', 'agentops_warehouse')(source_relation, path)) }}
{%- endmacro %}

{% macro duckdb__data_source(source_relation, path) -%}{{ source_relation }}{%- endmacro %}

{% macro spark__data_source(source_relation, path) -%}{{ parquet_relation(path) }}{%- endmacro %}

{% macro default__outbox_alerts(source_relation) -%}
    {%- set s = dbt.type_string() -%}
    {%- set ts = type_timestamptz() -%}
    {%- if lake_has_files(data_dir() ~ '/outbox/alerts/*.parquet') -%}
    {{ data_source(source_relation, data_dir() ~ '/outbox/alerts') }}
    {%- else -%}
    (
        select
            cast(null as {{ s }}) as dedupe_key,
            cast(null as {{ s }}) as alert_id,
            cast(null as {{ s }}) as alert_type,
            cast(null as {{ s }}) as destination,
            cast(null as {{ s }}) as status,
            cast(null as integer) as attempts,
            cast(null as {{ ts }}) as last_attempt_at,
            cast(null as {{ ts }}) as sent_at,
            cast(null as {{ s }}) as error_message,
            cast(null as {{ ts }}) as created_at,
            cast(null as {{ ts }}) as recorded_at
        where false
    )
    {%- endif -%}
{%- endmacro %}

{#- A string field of a JSON text column (NULL when absent). -#}
{% macro json_string(column, key) -%}
    {{ return(adapter.dispatch('json_string', 'agentops_warehouse')(column, key)) }}
{%- endmacro %}

{% macro duckdb__json_string(column, key) -%}
    json_extract_string({{ column }}, '$.{{ key }}')
{%- endmacro %}

{% macro spark__json_string(column, key) -%}
    get_json_object({{ column }}, '$.{{ key }}')
{%- endmacro %}

{#- The model references every build writes before dbt runs (ingestion/reference/model_refs.py). A
    missing file is refused rather than read as "no model is known", which would book every
    call unpriced. -#}
{% macro reference_model_refs(source_relation) -%}
    {%- set path = data_dir() ~ '/reference/model_refs.parquet' -%}
    {%- if not lake_has_files(path) -%}
        {{ exceptions.raise_compiler_error(
            path ~ " is missing: run `agentops-wh build`, which resolves the model references "
            ~ "before dbt runs"
        ) }}
    {%- endif -%}
    {{ data_source(source_relation, path) }}
{%- endmacro %}
