{#- Every lake copy of an event that lost "first loaded wins": producer retries (same
    content) and conflicting duplicates (same event_id, different event_hash). Nothing the
    producer sent disappears silently: the copy stays in the lake, and this model points at it.

    Incremental: reads only the loads dq_lake_loads found duplicates in since this model last
    wrote. -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='event_copy_id',
        on_schema_change='fail',
    )
}}

{%- set checked = ref('dq_lake_loads') -%}
{%- set with_duplicates = "select load_id from " ~ checked ~ " where duplicate_copies > 0" -%}
{%- if is_incremental() -%}
    {%- set with_duplicates = with_duplicates ~ " and built_at > " ~ last_built_at() -%}
{%- endif -%}
{%- set load_ids = query_values(with_duplicates) %}

with

lake_copies as (

    select
        event_id,
        event_type,
        occurred_at,
        event_hash,
        loaded_at,
        load_id,
        source_file,
        source_line
    from {{ lake_events(source('lake', 'events'), load_ids) }}

),

kept_from_these_loads as (

    select event_id, event_hash, loaded_at, load_id, source_file, source_line
    from {{ ref('stg_lake__events') }}
    where load_id in ({% if load_ids %}{{ sql_string_list(load_ids) }}{% else %}null{% endif %})
    {% if is_incremental() %}
        -- staging kept these loads' rows in the build that registered them, which came after
        -- this model's last write (this model runs whenever dq_lake_loads does, in the same
        -- build): the older rows of the table are skipped by their zone maps
        and built_at > {{ last_built_at() }}
    {% endif %}

),

-- The rows of these loads that were not kept: the join stays the size of the loads.
losing_copies as (

    select *
    from lake_copies
    where not exists (
        select 1 from kept_from_these_loads as k
        where k.load_id = lake_copies.load_id
            and k.source_file = lake_copies.source_file
            and k.source_line = lake_copies.source_line
    )

),

-- The copy that won, for each losing copy. A producer's retry within a batch lost to a row
-- of these same loads; only the ids not won there are looked up in the whole table (a scan
-- of every kept id, skipped when there are none).
kept_here as (

    select *
    from kept_from_these_loads
    where event_id in (select event_id from losing_copies)

),

kept_before as (

    select event_id, event_hash, loaded_at, load_id, source_file, source_line
    from {{ ref('stg_lake__events') }}
    where event_id in (
        select event_id from losing_copies
        where event_id not in (select event_id from kept_here)
    )

),

kept as (

    select * from kept_here
    union all
    select * from kept_before

),

later_copies as (

    select
        md5(concat_ws('|', c.load_id, c.source_file, cast(c.source_line as varchar)))
            as event_copy_id,
        c.event_id,
        c.event_type,
        c.occurred_at,
        c.event_hash,
        k.event_hash as winning_event_hash,
        c.event_hash <> k.event_hash as is_conflicting,
        c.load_id,
        c.source_file,
        c.source_line,
        c.loaded_at,
        k.load_id as winning_load_id,
        k.source_file as winning_source_file,
        k.source_line as winning_source_line,
        k.loaded_at as winning_loaded_at,
        {{ build_stamp() }} as built_at
    from losing_copies as c
    inner join kept as k
        on c.event_id = k.event_id

)

select * from later_copies
