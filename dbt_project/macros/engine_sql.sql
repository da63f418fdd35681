{#- The SQL that DuckDB and Spark spell differently, one small dispatched macro each, so that
    the models read as plain SQL both engines run. dbt's own cross-database macros
    (dbt.type_string(), dbt.split_part(), dbt.escape_single_quotes(), ...) are used where they
    exist; these cover what they do not. Spark runs with a UTC session time zone (profiles.yml),
    so its TIMESTAMP is an instant shown in UTC, as DuckDB's TIMESTAMPTZ is here. -#}

{#- An instant: TIMESTAMP WITH TIME ZONE on DuckDB, TIMESTAMP (local-time, UTC session) on
    Spark. dbt.type_timestamp() is DuckDB's zone-less TIMESTAMP, which is not the same. -#}
{% macro type_timestamptz() -%}
    {{ return(adapter.dispatch('type_timestamptz', 'agentops_warehouse')()) }}
{%- endmacro %}

{% macro duckdb__type_timestamptz() -%}timestamptz{%- endmacro %}

{% macro spark__type_timestamptz() -%}timestamp{%- endmacro %}

{#- A list of `element_type`. -#}
{% macro type_array(element_type) -%}
    {{ return(adapter.dispatch('type_array', 'agentops_warehouse')(element_type)) }}
{%- endmacro %}

{% macro duckdb__type_array(element_type) -%}{{ element_type }}[]{%- endmacro %}

{% macro spark__type_array(element_type) -%}array<{{ element_type }}>{%- endmacro %}

{#- A struct of `fields`, a list of (name, type) pairs. -#}
{% macro type_struct(fields) -%}
    {{ return(adapter.dispatch('type_struct', 'agentops_warehouse')(fields)) }}
{%- endmacro %}

{% macro duckdb__type_struct(fields) -%}
    struct({% for name, type in fields %}{{ name }} {{ type }}{{ ", " if not loop.last }}{% endfor %})
{%- endmacro %}

{% macro spark__type_struct(fields) -%}
    struct<{% for name, type in fields %}{{ name }}: {{ type }}{{ ", " if not loop.last }}{% endfor %}>
{%- endmacro %}

{#- An instant written as an ISO string (`2026-11-20T10:00:00.000000Z`): one form both engines
    cast exactly. -#}
{% macro timestamptz_literal(iso_text) -%}
    cast('{{ iso_text }}' as {{ type_timestamptz() }})
{%- endmacro %}

{#- The UTC calendar date of an instant. -#}
{% macro utc_date(ts) -%}
    {{ return(adapter.dispatch('utc_date', 'agentops_warehouse')(ts)) }}
{%- endmacro %}

{% macro duckdb__utc_date(ts) -%}
    cast(timezone('UTC', {{ ts }}) as date)
{%- endmacro %}

{% macro spark__utc_date(ts) -%}
    cast({{ ts }} as date)
{%- endmacro %}

{#- The instant a date starts at, UTC midnight. -#}
{% macro utc_midnight(day) -%}
    {{ return(adapter.dispatch('utc_midnight', 'agentops_warehouse')(day)) }}
{%- endmacro %}

{% macro duckdb__utc_midnight(day) -%}
    timezone('UTC', cast({{ day }} as timestamp))
{%- endmacro %}

{% macro spark__utc_midnight(day) -%}
    cast({{ day }} as timestamp)
{%- endmacro %}

{#- The start of the UTC hour of an instant. -#}
{% macro utc_hour(ts) -%}
    {{ return(adapter.dispatch('utc_hour', 'agentops_warehouse')(ts)) }}
{%- endmacro %}

{% macro duckdb__utc_hour(ts) -%}
    timezone('UTC', date_trunc('hour', timezone('UTC', {{ ts }})))
{%- endmacro %}

{% macro spark__utc_hour(ts) -%}
    date_trunc('HOUR', {{ ts }})
{%- endmacro %}

{#- An instant as text in DuckDB's own rendering of a TIMESTAMPTZ at UTC
    (`2026-11-20 10:00:00+00`; whole seconds only), so keys hashed from it agree. -#}
{% macro utc_seconds_text(ts) -%}
    {{ return(adapter.dispatch('utc_seconds_text', 'agentops_warehouse')(ts)) }}
{%- endmacro %}

{% macro duckdb__utc_seconds_text(ts) -%}
    cast({{ ts }} as varchar)
{%- endmacro %}

{% macro spark__utc_seconds_text(ts) -%}
    concat(date_format({{ ts }}, 'yyyy-MM-dd HH:mm:ss'), '+00')
{%- endmacro %}

{#- An instant as `YYYY-MM-DDTHH:MM:SSZ` (UTC, whole seconds). -#}
{% macro utc_iso_text(ts) -%}
    {{ return(adapter.dispatch('utc_iso_text', 'agentops_warehouse')(ts)) }}
{%- endmacro %}

{% macro duckdb__utc_iso_text(ts) -%}
    strftime(timezone('UTC', {{ ts }}), '%Y-%m-%dT%H:%M:%SZ')
{%- endmacro %}

{% macro spark__utc_iso_text(ts) -%}
    date_format({{ ts }}, "yyyy-MM-dd'T'HH:mm:ss'Z'")
{%- endmacro %}

{#- Milliseconds since the Unix epoch of an instant (BIGINT). -#}
{% macro epoch_ms(ts) -%}
    {{ return(adapter.dispatch('epoch_ms', 'agentops_warehouse')(ts)) }}
{%- endmacro %}

{% macro duckdb__epoch_ms(ts) -%}
    epoch_ms({{ ts }})
{%- endmacro %}

{% macro spark__epoch_ms(ts) -%}
    unix_millis({{ ts }})
{%- endmacro %}

{#- Whole milliseconds from instant `a` to instant `b` (BIGINT). -#}
{% macro diff_ms(a, b) -%}
    {{ return(adapter.dispatch('diff_ms', 'agentops_warehouse')(a, b)) }}
{%- endmacro %}

{% macro duckdb__diff_ms(a, b) -%}
    date_diff('millisecond', {{ a }}, {{ b }})
{%- endmacro %}

{% macro spark__diff_ms(a, b) -%}
    timestampdiff(MILLISECOND, {{ a }}, {{ b }})
{%- endmacro %}

{#- The elements of a list for which `condition` (over the element `var`) holds. -#}
{% macro list_where(list_expr, var, condition) -%}
    {{ return(adapter.dispatch('list_where', 'agentops_warehouse')(list_expr, var, condition)) }}
{%- endmacro %}

{% macro duckdb__list_where(list_expr, var, condition) -%}
    list_filter({{ list_expr }}, lambda {{ var }}: {{ condition }})
{%- endmacro %}

{% macro spark__list_where(list_expr, var, condition) -%}
    filter({{ list_expr }}, {{ var }} -> {{ condition }})
{%- endmacro %}

{#- A list literal of SQL expressions. -#}
{% macro list_of(items) -%}
    {{ return(adapter.dispatch('list_of', 'agentops_warehouse')(items)) }}
{%- endmacro %}

{% macro duckdb__list_of(items) -%}
    [{{ items | join(', ') }}]
{%- endmacro %}

{% macro spark__list_of(items) -%}
    array({{ items | join(', ') }})
{%- endmacro %}

{% macro list_max(list_expr) -%}
    {{ return(adapter.dispatch('list_max', 'agentops_warehouse')(list_expr)) }}
{%- endmacro %}

{% macro duckdb__list_max(list_expr) -%}
    list_max({{ list_expr }})
{%- endmacro %}

{% macro spark__list_max(list_expr) -%}
    array_max({{ list_expr }})
{%- endmacro %}

{% macro list_length(list_expr) -%}
    {{ return(adapter.dispatch('list_length', 'agentops_warehouse')(list_expr)) }}
{%- endmacro %}

{% macro duckdb__list_length(list_expr) -%}
    len({{ list_expr }})
{%- endmacro %}

{% macro spark__list_length(list_expr) -%}
    size({{ list_expr }})
{%- endmacro %}

{#- The interpolated quantile of a group (DuckDB's quantile_cont), to the microsecond of a
    millisecond latency: the engines interpolate in different orders, which differ in the last
    bits of a DOUBLE. -#}
{% macro percentile_cont(column, fraction) -%}
    {{ return(adapter.dispatch('percentile_cont', 'agentops_warehouse')(column, fraction)) }}
{%- endmacro %}

{% macro duckdb__percentile_cont(column, fraction) -%}
    round(quantile_cont({{ column }}, {{ fraction }}), 3)
{%- endmacro %}

{% macro spark__percentile_cont(column, fraction) -%}
    round(percentile({{ column }}, {{ fraction }}), 3)
{%- endmacro %}

{#- An ordering key over several columns, for min_by/max_by (compared left to right). -#}
{% macro sort_key(columns) -%}
    {{ return(adapter.dispatch('sort_key', 'agentops_warehouse')(columns)) }}
{%- endmacro %}

{% macro duckdb__sort_key(columns) -%}
    ({{ columns | join(', ') }})
{%- endmacro %}

{% macro spark__sort_key(columns) -%}
    struct({{ columns | join(', ') }})
{%- endmacro %}

{#- `as not materialized` for a CTE: DuckDB would otherwise buffer a CTE that is read twice;
    Spark never materializes CTEs and has no such keyword. -#}
{% macro cte_not_materialized() -%}
    {{ return(adapter.dispatch('cte_not_materialized', 'agentops_warehouse')()) }}
{%- endmacro %}

{% macro duckdb__cte_not_materialized() -%}not materialized{%- endmacro %}

{% macro spark__cte_not_materialized() -%}{%- endmacro %}

{#- The text that stands for NULL inside hashed keys: the four characters `\x00` (DuckDB keeps
    backslashes in string literals; Spark unescapes them, so it doubles the backslash). -#}
{% macro null_key_text() -%}
    {{ return(adapter.dispatch('null_key_text', 'agentops_warehouse')()) }}
{%- endmacro %}

{% macro duckdb__null_key_text() -%}'\x00'{%- endmacro %}

{% macro spark__null_key_text() -%}'\\x00'{%- endmacro %}

{#- Contracts are written once, in DuckDB's type names (the published warehouse is DuckDB);
    on Spark each contract type is compared as the Spark type it means. -#}
{% macro spark_type_of(duckdb_type) -%}
    {%- set t = duckdb_type | trim | lower -%}
    {%- set names = {
        'varchar': 'string',
        'timestamp with time zone': 'timestamp',
        'timestamptz': 'timestamp',
        'integer': 'int',
    } -%}
    {%- if t.endswith('[]') -%}
        {{ return('array<' ~ spark_type_of(t[:-2]) ~ '>') }}
    {%- endif -%}
    {{ return(names.get(t, t)) }}
{%- endmacro %}

{% macro spark__get_empty_schema_sql(columns) -%}
    {%- set translated = {} -%}
    {%- for name in columns -%}
        {%- set column = dict(columns[name]) -%}
        {%- if column.get('data_type') -%}
            {%- do column.update({'data_type': spark_type_of(column['data_type'])}) -%}
        {%- endif -%}
        {%- do translated.update({name: column}) -%}
    {%- endfor -%}
    {{ return(dbt.default__get_empty_schema_sql(translated)) }}
{%- endmacro %}

{#- A model config that differs per engine, e.g. its incremental strategy: the value given for
    the target's adapter (configs are read when dbt parses, before any dispatch); Spark's for
    the adapters built on dbt-spark (databricks). -#}
{% macro by_engine(duckdb, spark) -%}
    {{ return(duckdb if target.type == 'duckdb' else spark) }}
{%- endmacro %}

{#- On Spark's plain Parquet tables an incremental model can only append or overwrite whole
    partitions, so a new price book (which reprices every row) is built there by a full
    refresh, which `agentops-wh build --engine spark` runs whenever the seeds changed. Reaching
    the repricing branch incrementally on Spark means that step was skipped: refuse rather
    than append a second price for every call. -#}
{% macro refuse_incremental_reprice(reprice_all) -%}
    {%- if reprice_all and target.type != 'duckdb' -%}
        {{ exceptions.raise_compiler_error(
            "the price book changed since " ~ this ~ " was built: on Spark that takes a full "
            ~ "refresh (`agentops-wh build --engine spark` runs one when the seeds changed)"
        ) }}
    {%- endif -%}
{%- endmacro %}

{#- The distinct values of a group as one text, sorted and joined by `separator`. -#}
{% macro distinct_sorted_text(column, separator) -%}
    {{ return(adapter.dispatch('distinct_sorted_text', 'agentops_warehouse')(column, separator)) }}
{%- endmacro %}

{% macro duckdb__distinct_sorted_text(column, separator) -%}
    string_agg(distinct {{ column }}, '{{ separator }}' order by {{ column }})
{%- endmacro %}

{% macro spark__distinct_sorted_text(column, separator) -%}
    nullif(array_join(array_sort(collect_set({{ column }})), '{{ separator }}'), '')
{%- endmacro %}

{#- An instant `ms` milliseconds (a number, fractions to the microsecond) before `ts`. -#}
{% macro minus_ms(ts, ms) -%}
    {{ return(adapter.dispatch('minus_ms', 'agentops_warehouse')(ts, ms)) }}
{%- endmacro %}

{% macro duckdb__minus_ms(ts, ms) -%}
    {{ ts }} - to_microseconds(cast({{ ms }} * 1000 as bigint))
{%- endmacro %}

{% macro spark__minus_ms(ts, ms) -%}
    timestamp_micros(unix_micros({{ ts }}) - cast({{ ms }} * 1000 as bigint))
{%- endmacro %}
