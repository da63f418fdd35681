{#- Generic tests for the event-grain models, which reach tens of millions of rows.

    Each checks the rows of the latest write to the model (built_at = its max, see
    macros/incremental.sql) against the whole table: after an incremental build, what the
    build added or rewrote; after a full build, everything. Rows written earlier were checked
    by the build that wrote them, and no build changes them without rewriting them. A full
    scan of a 10M-row table per test per build would otherwise cost more than the
    incremental build itself. -#}

{#- `stamp` names the column that holds the build's instant (built_at here; an append-only
    table may use its own, such as fct_cost_ledger.booked_at). -#}
{#- The rows of the latest write. DuckDB (2.x) skips the row groups before it by their
    min/max with the scalar subquery as well as with an inlined literal (measured on 10M
    rows: 0.15 s either way for a unique test), so no lookup query runs while the test
    compiles: one round trip less for each of the ~60 tests that use it. -#}
{% macro _latest_write(model, stamp='built_at') -%}
    {{ stamp }} >= (select max({{ stamp }}) from {{ model }})
{%- endmacro %}

{% test unique_in_build(model, column_name, stamp='built_at') %}

select {{ column_name }} as unique_field, count(*) as n_records
from {{ model }}
where {{ column_name }} in (
    select {{ column_name }} from {{ model }} where {{ _latest_write(model, stamp) }}
)
group by {{ column_name }}
having count(*) > 1

{% endtest %}

{% test not_null_in_build(model, column_name, stamp='built_at') %}

select {{ column_name }}
from {{ model }}
where {{ _latest_write(model, stamp) }} and {{ column_name }} is null

{% endtest %}

{#- The parent is first cut down to the keys the new rows use: a semi-join on a few keys
    instead of a hash table over a parent of tens of millions.

    `prune_on` names a timestamp column that holds the same value in a child row and its
    parent, such as occurred_at when both rows are the same event (`parent_prune_on` names
    the parent's column when it is called differently). The parent is then read only between
    the new rows' min and max of it, inlined as literals, so DuckDB skips the row groups of
    other days by their min/max. A parent outside that range could only make the test fail,
    never pass. -#}
{% test relationships_in_build(
    model, column_name, to, field, stamp='built_at', prune_on=none, parent_prune_on=none
) %}

{%- set latest = _latest_write(model, stamp) -%}
{%- set bounds = none -%}
{%- if prune_on and execute -%}
    {%- set bounds = timestamptz_range_literals(model, prune_on, latest) -%}
{%- endif %}

with child as (

    select {{ column_name }} as from_field
    from {{ model }}
    where {{ latest }} and {{ column_name }} is not null

),

parent as (

    select {{ field }} as to_field
    from {{ to }}
    where {{ field }} in (select from_field from child)
    {%- if bounds %}
        and {{ parent_prune_on or prune_on }} between {{ bounds[0] }} and {{ bounds[1] }}
    {%- endif %}

)

select from_field
from child
where not exists (select 1 from parent where parent.to_field = child.from_field)

{% endtest %}

{% test accepted_values_in_build(model, column_name, values, stamp='built_at') %}

select {{ column_name }} as value_field, count(*) as n_records
from {{ model }}
where {{ _latest_write(model, stamp) }}
    and {{ column_name }} not in ({{ sql_string_list(values) }})
group by {{ column_name }}

{% endtest %}

{#- NOT NULL over several columns at once: one query (and one dbt node) per model instead of
    one per column, which halves the nodes of a build; a failing row names its NULL columns. -#}
{% macro _null_columns(columns) -%}
    concat_ws(', '
    {%- for c in columns %}, case when {{ c }} is null then '{{ c }}' end{% endfor -%}
    )
{%- endmacro %}

{% test not_null_columns(model, columns) %}

select {{ _null_columns(columns) }} as null_columns, *
from {{ model }}
where {% for c in columns %}{{ c }} is null{% if not loop.last %} or {% endif %}{% endfor %}

{% endtest %}

{% test not_null_columns_in_build(model, columns, stamp='built_at') %}

select {{ _null_columns(columns) }} as null_columns, *
from {{ model }}
where {{ _latest_write(model, stamp) }}
    and ({% for c in columns %}{{ c }} is null{% if not loop.last %} or {% endif %}{% endfor %})

{% endtest %}
