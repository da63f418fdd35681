{#- Every lake copy of an event that lost "first loaded wins": producer retries (same
    content) and conflicting duplicates (same tenant and event_id, different event_hash).
    Events are keyed (tenant_id, event_id): another tenant's event with the same id is not a
    copy. Nothing the
    producer sent disappears silently: the copy stays in the lake, and this model points at it.

    Incremental: reads only the loads dq_lake_loads found duplicates in since this model last
    wrote. -#}
{#- Spark: a build writes the copies of loads no build checked before, never a key already in
    the table, so appending gives the same rows. -#}
{{
    config(
        materialized='incremental',
        incremental_strategy=by_engine(duckdb='delete+insert', spark='append'),
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
        tenant.tenant_id,
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

    select tenant_id, event_id, event_hash, loaded_at, load_id, source_file, source_line
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
    where {{ tenant_key_in('event_id', 'losing_copies') }}

),

kept_before as (

    select
        kept.tenant_id,
        kept.event_id,
        kept.event_hash,
        kept.loaded_at,
        kept.load_id,
        kept.source_file,
        kept.source_line
    from {{ ref('stg_lake__events') }} as kept
    where exists (
        select 1 from losing_copies
        where {{ tenant_key_match('event_id', 'losing_copies', 'kept') }}
            and not exists (
                select 1 from kept_here
                where {{ tenant_key_match('event_id', 'kept_here', 'losing_copies') }}
            )
    )

),

kept as (

    select * from kept_here
    union all
    select * from kept_before

),

later_copies as (

    select
        md5(concat_ws('|', c.load_id, c.source_file, cast(c.source_line as {{ dbt.type_string() }})))
            as event_copy_id,
        c.tenant_id,
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
        on {{ tenant_key_match('event_id', 'c', 'k') }}

)

select * from later_copies
