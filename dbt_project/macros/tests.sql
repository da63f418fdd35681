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

{#- `key` lists the columns that together identify a row (the column alone by default); the
    tenant_ forms below key a producer's id by its tenant (macros/keys.sql). -#}
{% macro _unique_in_build(model, key, stamp) %}

select {{ key | join(', ') }}, count(*) as n_records
from {{ model }}
where ({{ key | join(', ') }}) in (
    select {{ key | join(', ') }} from {{ model }} where {{ _latest_write(model, stamp) }}
)
group by all
having count(*) > 1

{% endmacro %}

{% test unique_in_build(model, column_name, stamp='built_at') %}
{{ _unique_in_build(model, [column_name], stamp) }}
{% endtest %}

{#- (tenant_id, column) is unique among the rows of the latest write, against the table;
    with `within`, (tenant_id, *within, column): a span_id within its run. -#}
{% test tenant_unique_in_build(model, column_name, stamp='built_at', within=[]) %}
{{ _unique_in_build(model, _tenant_key_within(column_name, within), stamp) }}
{% endtest %}

{#- (tenant_id, *within, column) is unique over the whole table. -#}
{% test tenant_unique(model, column_name, within=[]) %}

select {{ _tenant_key_within(column_name, within) | join(', ') }}, count(*) as n_records
from {{ model }}
group by all
having count(*) > 1

{% endtest %}

{% macro _tenant_key_within(column_name, within) -%}
    {%- set key = tenant_key_columns(column_name) -%}
    {{ return(key[:-1] + within + key[-1:]) }}
{%- endmacro %}

{#- Every non-NULL (tenant_id, column) of the model exists as (tenant_id, field) in `to`:
    a child row never points at another tenant's parent. -#}
{% test tenant_relationships(model, column_name, to, field) %}

select {{ tenant_key(column_name, 'child') }}
from {{ model }} as child
where child.{{ column_name }} is not null
    and not exists (
        select 1 from {{ to }} as parent
        where parent.{{ field }} = child.{{ column_name }}
        {%- for c in tenant_key_columns(column_name)[:-1] %}
            and parent.{{ c }} = child.{{ c }}
        {%- endfor %}
    )

{% endtest %}

{% macro _relationships_in_build(
    model, column_name, to, field, stamp, prune_on, parent_prune_on, tenant_scoped
) %}

{%- set latest = _latest_write(model, stamp) -%}
{%- set bounds = none -%}
{%- if prune_on and execute -%}
    {%- set bounds = timestamptz_range_literals(model, prune_on, latest) -%}
{%- endif %}
{%- set tenant = tenant_key_columns(column_name)[:-1] if tenant_scoped else [] %}

with child as (

    select {% for c in tenant %}{{ c }}, {% endfor %}{{ column_name }} as from_field
    from {{ model }}
    where {{ latest }} and {{ column_name }} is not null

),

parent as (

    select {% for c in tenant %}{{ c }}, {% endfor %}{{ field }} as to_field
    from {{ to }}
    where {{ field }} in (select from_field from child)
    {%- if bounds %}
        and {{ parent_prune_on or prune_on }} between {{ bounds[0] }} and {{ bounds[1] }}
    {%- endif %}

)

select {% for c in tenant %}{{ c }}, {% endfor %}from_field
from child
where not exists (
    select 1 from parent
    where parent.to_field = child.from_field
    {%- for c in tenant %} and parent.{{ c }} = child.{{ c }}{% endfor %}
)

{% endmacro %}

{% test relationships_in_build(
    model, column_name, to, field, stamp='built_at', prune_on=none, parent_prune_on=none
) %}
{{ _relationships_in_build(
    model, column_name, to, field, stamp, prune_on, parent_prune_on, false
) }}
{% endtest %}

{#- relationships_in_build on the tenant's key: the parent is (tenant_id, field). -#}
{% test tenant_relationships_in_build(
    model, column_name, to, field, stamp='built_at', prune_on=none, parent_prune_on=none
) %}
{{ _relationships_in_build(
    model, column_name, to, field, stamp, prune_on, parent_prune_on, true
) }}
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
