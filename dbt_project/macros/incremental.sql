{#- Incremental bookkeeping shared by the models that process only what is new.

    Every incremental model of ours stamps the rows it writes with `built_at`, the start of
    the dbt invocation (`run_started_at`, the same instant for every model of one build).
    "New for me" is then uniform: the rows my upstream wrote after my own last write,
        upstream.built_at > (select max(built_at) from {{ this }}).
    It needs no clock but dbt's, survives a build that failed half way (a model that did not
    run keeps its older stamp and catches up next time), and lets data tests check only the
    rows a build wrote (macros/tests.sql). -#}

{% macro build_stamp() -%}
    {{ timestamptz_literal(run_started_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")) }}
{%- endmacro %}

{#- The latest built_at of {{ this }} (-infinity while it is empty). -#}
{% macro last_built_at(relation=none) -%}
    {{ watermark('built_at', relation) }}
{%- endmacro %}

{#- Max of a column of {{ this }} as a scalar subquery (last_built_at's, on built_at). -#}
{% macro watermark(column='built_at', relation=none) -%}
    {%- set rel = relation if relation is not none else this -%}
    (select coalesce(max({{ column }}), {{ min_timestamptz() }}) from {{ rel }})
{%- endmacro %}

{#- max(column) of a relation, looked up now and returned as a timestamptz literal (none when
    the relation is empty). Inlined in a filter, DuckDB skips the row groups before it by their
    min/max, where a scalar subquery would scan them. Only at execution, on real relations. -#}
{% macro max_timestamptz_literal(relation, column) -%}
    {%- set bounds = timestamptz_range_literals(relation, column) -%}
    {{ return(none if bounds is none else bounds[1]) }}
{%- endmacro %}

{#- [min, max] of a timestamptz column over the rows of a relation that `where` keeps, looked
    up now as two literals (none when no row), for the same zone-map skipping. -#}
{% macro timestamptz_range_literals(relation, column, where='true') -%}
    {%- set text = dbt.type_string() -%}
    {%- set row = run_query(
        "select cast(min(" ~ column ~ ") as " ~ text ~ "), cast(max(" ~ column ~ ") as " ~ text
        ~ ") from " ~ relation ~ " where " ~ where
    ).rows[0] -%}
    {%- if row[0] is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set ts = type_timestamptz() -%}
    {{ return(["cast('" ~ row[0] ~ "' as " ~ ts ~ ")", "cast('" ~ row[1] ~ "' as " ~ ts ~ ")"]) }}
{%- endmacro %}

{% macro min_timestamptz() -%}
    {{ return(adapter.dispatch('min_timestamptz', 'agentops_warehouse')()) }}
{%- endmacro %}

{% macro duckdb__min_timestamptz() -%}
    cast('-infinity' as timestamptz)
{%- endmacro %}

{#- Spark has no infinite timestamps: its first representable instant. -#}
{% macro spark__min_timestamptz() -%}
    cast('0001-01-01T00:00:00Z' as timestamp)
{%- endmacro %}

{#- True when rows of {{ this }} were computed under another price book than the current one
    (`version_relation`, the one-row int_price_book_version). Models that carry money then
    recompute every row: a new price book reprices every call, run and bucket, which is rare;
    otherwise they process only what is new. Pass the relation from the model (`ref()` in
    the model body) so dbt records the dependency. -#}
{% macro price_book_changed(version_relation, column='price_book_version') -%}
    {#- A unit test mocks {{ this }} as a CTE, which a separate query cannot see. -#}
    {%- if not execute or not is_incremental() or model.resource_type == 'unit_test' -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set query -%}
        select count(*)
        from (select distinct {{ column }} as v from {{ this }}) as seen
        where seen.v is distinct from (select price_book_version from {{ version_relation }})
    {%- endset -%}
    {{ return(run_query(query).columns[0].values()[0] > 0) }}
{%- endmacro %}

{#- A stable key over columns that may be NULL (no dbt_utils: the build runs offline). -#}
{% macro surrogate_key(columns) -%}
    md5(concat_ws('|'
    {%- for c in columns -%}
        , coalesce(cast({{ c }} as {{ dbt.type_string() }}), {{ null_key_text() }})
    {%- endfor -%}
    ))
{%- endmacro %}

{#- An append-only incremental build inserts its query straight into the table. dbt-duckdb
    first materializes the new rows in a temporary table and then copies them into the model;
    for `incremental_strategy='append'` the temporary relation is a view instead, so the rows
    (about 100k wide rows per +1% at 10M events) are written once. Same transaction, same
    snapshot: the query runs once, inside the insert. delete+insert reads its temporary
    relation twice (the keys to delete, then the rows), so it keeps the table. -#}
{% macro duckdb__create_table_as(
    temporary, relation, compiled_code, language='sql', partitioned_by=none, sorted_by=none
) -%}
    {%- if temporary and language == 'sql' and config.get('incremental_strategy') == 'append' -%}
    create temporary view {{ relation.include(database=false, schema=false) }} as (
        {{ compiled_code }}
    )
    {%- else -%}
    {{ dbt.duckdb__create_table_as(
        temporary, relation, compiled_code, language, partitioned_by, sorted_by
    ) }}
    {%- endif -%}
{%- endmacro %}
