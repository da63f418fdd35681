{%- set reprice_all = price_book_changed(ref('int_price_book_version')) -%}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='usage_date',
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
