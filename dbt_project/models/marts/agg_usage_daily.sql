{%- set reprice_all = price_book_changed(ref('int_price_book_version')) -%}
{{- refuse_incremental_reprice(reprice_all) }}
{#- Spark: every touched UTC day is recomputed whole (usage_rollup) and overwrites its
    partition. -#}
{{
    config(
        materialized='incremental',
        incremental_strategy=by_engine(duckdb='delete+insert', spark='insert_overwrite'),
        unique_key='usage_date',
        partition_by=by_engine(duckdb=none, spark=['usage_date']),
        on_schema_change='fail',
    )
}}

with rollup as (

    {{ usage_rollup('day', reprice_all) }}

)

select
    usage_bucket_id,
    bucket as usage_date,
    {{ usage_rollup_columns() }}
from rollup
