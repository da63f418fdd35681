{#- `dbt run-operation carry_over_table --args '{schema, identifier, path}'`: replace a table
    with the rows of a Parquet file, as they are. The one-time carry-over of the cost ledger
    when a data directory switches engines (orchestration/warehouse/engine_switch.py); the file holds
    the other engine's ledger, column for column. -#}
{% macro carry_over_table(schema, identifier, path) -%}
    {%- for statement in adapter.dispatch('carry_over_statements', 'agentops_warehouse')(
        schema, identifier, path
    ) -%}
        {%- do run_query(statement) -%}
    {%- endfor -%}
    {%- do adapter.commit() if target.type == 'duckdb' -%}
    {{ log("carried " ~ path ~ " over into " ~ schema ~ "." ~ identifier, info=true) }}
{%- endmacro %}

{% macro duckdb__carry_over_statements(schema, identifier, path) -%}
    {{ return([
        "create schema if not exists " ~ schema,
        "create or replace table " ~ schema ~ "." ~ identifier
        ~ " as select * from read_parquet('" ~ path ~ "')",
    ]) }}
{%- endmacro %}

{% macro spark__carry_over_statements(schema, identifier, path) -%}
    {{ return([
        "create database if not exists " ~ schema,
        "drop table if exists " ~ schema ~ "." ~ identifier,
        "create table " ~ schema ~ "." ~ identifier ~ " using parquet as select * from parquet.`"
        ~ path ~ "`",
    ]) }}
{%- endmacro %}
