{#- Engine-specific SQL of the pricing models, dispatched so another adapter can be added.

    Money never passes through a division or a DOUBLE here: prices per unit are DECIMAL(38, 24)
    and multiply token counts (BIGINT), which DuckDB keeps DECIMAL(38, 24), exact or an error.
-#}

{#- The UTC calendar date of a timestamptz: what genai-prices' StartDateConstraint compares. -#}
{% macro pricing_utc_date(ts) -%}
    {{ return(adapter.dispatch('pricing_utc_date', 'agentops_warehouse')(ts)) }}
{%- endmacro %}

{% macro default__pricing_utc_date(ts) -%}
    cast(timezone('UTC', {{ ts }}) as date)
{%- endmacro %}

{#- The UTC time of day of a timestamptz: what genai-prices' TimeOfDateConstraint compares. -#}
{% macro pricing_utc_time(ts) -%}
    {{ return(adapter.dispatch('pricing_utc_time', 'agentops_warehouse')(ts)) }}
{%- endmacro %}

{% macro default__pricing_utc_time(ts) -%}
    cast(timezone('UTC', {{ ts }}) as time)
{%- endmacro %}

{#- Lower-case hex SHA-256 of a string expression (NULL stays NULL). -#}
{% macro pricing_sha256(expr) -%}
    {{ return(adapter.dispatch('pricing_sha256', 'agentops_warehouse')(expr)) }}
{%- endmacro %}

{% macro default__pricing_sha256(expr) -%}
    sha256({{ expr }})
{%- endmacro %}

{#- Aggregate: the strings of a group joined by newlines in sorted order (NULL for no rows). -#}
{% macro pricing_sorted_lines(expr) -%}
    {{ return(adapter.dispatch('pricing_sorted_lines', 'agentops_warehouse')(expr)) }}
{%- endmacro %}

{% macro default__pricing_sorted_lines(expr) -%}
    string_agg({{ expr }}, chr(10) order by {{ expr }})
{%- endmacro %}
