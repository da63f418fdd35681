{#- The keys of what producers identify. Every id a producer chooses (event_id, run_id, step_id,
    model_call_id, tool_call_id, trace_id, and the budget and alert ids of its events) is
    scoped by its tenant: two tenants may send the same id and keep separate rows everywhere.
    So the key of an entity is (tenant_id, <its id>), and these macros are its one
    definition: models partition, join, deduplicate and test on them instead of spelling the
    columns out (ingestion/validation/keys.py is the Python side of the same rule). -#}

{#- The key's columns, as a list (for `unique_key=` configs and generic tests). -#}
{% macro tenant_key_columns(id_column) -%}
    {{ return(['tenant_id', id_column]) }}
{%- endmacro %}

{#- The key's columns as a SQL list, optionally qualified: `t.tenant_id, t.event_id`. -#}
{% macro tenant_key(id_column, relation=none) -%}
    {%- set prefix = (relation ~ '.') if relation else '' -%}
    {%- for c in tenant_key_columns(id_column) -%}
        {{ prefix }}{{ c }}{% if not loop.last %}, {% endif %}
    {%- endfor -%}
{%- endmacro %}

{#- The join condition of two relations on the key: `l.tenant_id = r.tenant_id and ...`. -#}
{% macro tenant_key_match(id_column, left, right) -%}
    {%- for c in tenant_key_columns(id_column) -%}
        {{ left }}.{{ c }} = {{ right }}.{{ c }}{% if not loop.last %} and {% endif %}
    {%- endfor -%}
{%- endmacro %}

{#- `(tenant_id, <id>) in (select tenant_id, <id> from <subquery's relation>)`, the
    semi-join the incremental models cut their inputs down with. `source_sql` is a relation
    or a parenthesised query that has both columns. -#}
{% macro tenant_key_in(id_column, source_sql, relation=none, negate=false) -%}
    ({{ tenant_key(id_column, relation) }}) {{ 'not in' if negate else 'in' }} (
        select {{ tenant_key(id_column) }} from {{ source_sql }}
    )
{%- endmacro %}

{#- The key as one string, for hashes and display: `<length of tenant_id>:<tenant_id>:<id>`.
    The length prefix keeps it unambiguous whatever characters the ids hold (tenant `a:b` with
    id `c` and tenant `a` with id `b:c` differ). ingestion/validation/keys.py's `tenant_key` writes the
    same string. -#}
{% macro tenant_key_string(id_column, relation=none) -%}
    {%- set prefix = (relation ~ '.') if relation else '' -%}
    concat(
        cast(length({{ prefix }}tenant_id) as {{ dbt.type_string() }}), ':',
        {{ prefix }}tenant_id, ':', {{ prefix }}{{ id_column }}
    )
{%- endmacro %}
