{#- One row per load of the lake with events, checked once stg_lake__events kept the first
    copy of every event: how many of its rows were kept, and how many are later copies of an
    event kept from an earlier row (producer retries; dq_duplicate_events lists them, and
    says which differ in content). Every lake row is one or the other.

    Incremental on the set of loads: each build checks the loads registered but not checked
    yet. Counting needs only stg_lake__events' rows of those loads, never the lake files. -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='append_new_columns',
    )
}}

{%- set loads = ref('stg_lake__loads') -%}
{%- set unchecked = "select load_id from " ~ loads ~ " where lake_rows > 0" -%}
{%- if is_incremental() -%}
    {%- set unchecked = unchecked ~ " and load_id not in (select load_id from " ~ this ~ ")" -%}
{%- endif -%}
{%- set load_ids = query_values(unchecked) %}

with

unchecked_loads as (

    select load_id, loaded_at, lake_rows
    from {{ loads }}
    where load_id in ({% if load_ids %}{{ sql_string_list(load_ids) }}{% else %}null{% endif %})

),

kept as (

    select load_id, count(*) as kept_rows
    from {{ ref('stg_lake__events') }}
    where load_id in (select load_id from unchecked_loads)
    group by load_id

),

checked as (

    select
        unchecked_loads.load_id,
        unchecked_loads.loaded_at,
        unchecked_loads.lake_rows,
        coalesce(kept.kept_rows, 0) as kept_rows,
        unchecked_loads.lake_rows - coalesce(kept.kept_rows, 0) as duplicate_copies,
        {{ build_stamp() }} as built_at
    from unchecked_loads
    left join kept
        on unchecked_loads.load_id = kept.load_id

)

select * from checked
