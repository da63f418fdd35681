{#- The imported provider statements (source `reference.statements`, written by
    `agentops-wh reconcile import`): the source when its file exists, else none. Columns as
    SCHEMA in ingestion/reference/statements.py. -#}
{% macro reference_statements(source_relation) -%}
    {%- set s = dbt.type_string() -%}
    {%- set path = data_dir() ~ '/reference/statements.parquet' -%}
    {%- if lake_has_files(path) -%}
    {{ data_source(source_relation, path) }}
    {%- else -%}
    (
        select
            cast(null as {{ s }}) as statement_id,
            cast(null as bigint) as import_seq,
            cast(null as {{ type_timestamptz() }}) as imported_at,
            cast(null as {{ s }}) as source_file,
            cast(null as bigint) as source_line,
            cast(null as date) as usage_date,
            cast(null as {{ s }}) as provider,
            cast(null as {{ s }}) as model,
            cast(null as decimal(38, 24)) as amount_usd
        where false
    )
    {%- endif -%}
{%- endmacro %}
