{#- One row per committed load of the lake (a commit record in lake/_loads/): when it was
    loaded and how many rows it holds. The registry the lake readers take their loads from,
    so that, within one build, every model sees the same set of loads, and a load that
    commits while dbt runs waits for the next build whole.

    Incremental: each build registers the committed loads it has not seen. The aggregation
    is this staging model's exception: it reads only the new loads' files. -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='append_new_columns',
    )
}}

{%- set committed = committed_loads_sql() -%}
{%- if is_incremental() -%}
    {%- set new_load_ids = query_values(
        "select load_id from (" ~ committed ~ ") where load_id not in (select load_id from "
        ~ this ~ ")"
    ) -%}
{%- else -%}
    {%- set new_load_ids = query_values(committed) -%}
{%- endif %}

with

source as (

    select load_id, loaded_at, occurred_at
    from {{ lake_events(source('lake', 'events'), new_load_ids) }}

),

new_loads as (

    {% if new_load_ids -%}
    select load_id from (values
        {%- for load_id in new_load_ids %}
        ('{{ dbt.escape_single_quotes(load_id) }}'){{ "," if not loop.last }}
        {%- endfor %}
    ) as new_load_ids (load_id)
    {%- else -%}
    select cast(null as {{ dbt.type_string() }}) as load_id where false
    {%- endif %}

),

rows_by_load as (

    select
        load_id,
        min(loaded_at) as loaded_at,
        count(*) as lake_rows,
        min(occurred_at) as first_occurred_at,
        max(occurred_at) as last_occurred_at
    from source
    group by load_id

),

registered as (

    select
        new_loads.load_id,
        rows_by_load.loaded_at,
        coalesce(rows_by_load.lake_rows, 0) as lake_rows,
        rows_by_load.first_occurred_at,
        rows_by_load.last_occurred_at,
        {{ build_stamp() }} as built_at
    from new_loads
    left join rows_by_load
        on new_loads.load_id = rows_by_load.load_id

)

select * from registered
