{#- Engine-specific SQL of the pricing models, dispatched per adapter.

    Money never passes through a division or a DOUBLE here: prices per unit are DECIMAL(38, 24)
    and multiply token counts (BIGINT), which both engines keep DECIMAL(38, 24), exact or an
    error (Spark with spark.sql.decimalOperations.allowPrecisionLoss=false, profiles.yml).
-#}

{#- The UTC calendar date of a timestamptz: what genai-prices' StartDateConstraint compares. -#}
{% macro pricing_utc_date(ts) -%}
    {{ return(adapter.dispatch('pricing_utc_date', 'agentops_warehouse')(ts)) }}
{%- endmacro %}

{% macro default__pricing_utc_date(ts) -%}
    {{ utc_date(ts) }}
{%- endmacro %}

{#- The UTC time of day of a timestamptz: what genai-prices' TimeOfDateConstraint compares. -#}
{% macro pricing_utc_time(ts) -%}
    {{ return(adapter.dispatch('pricing_utc_time', 'agentops_warehouse')(ts)) }}
{%- endmacro %}

{% macro duckdb__pricing_utc_time(ts) -%}
    cast(timezone('UTC', {{ ts }}) as time)
{%- endmacro %}

{% macro spark__pricing_utc_time(ts) -%}
    cast({{ ts }} as time)
{%- endmacro %}

{#- Lower-case hex SHA-256 of a string expression (NULL stays NULL). -#}
{% macro pricing_sha256(expr) -%}
    {{ return(adapter.dispatch('pricing_sha256', 'agentops_warehouse')(expr)) }}
{%- endmacro %}

{% macro duckdb__pricing_sha256(expr) -%}
    sha256({{ expr }})
{%- endmacro %}

{% macro spark__pricing_sha256(expr) -%}
    sha2({{ expr }}, 256)
{%- endmacro %}

{#- Aggregate: the strings of a group joined by newlines in sorted order (NULL for no rows). -#}
{% macro pricing_sorted_lines(expr) -%}
    {{ return(adapter.dispatch('pricing_sorted_lines', 'agentops_warehouse')(expr)) }}
{%- endmacro %}

{% macro duckdb__pricing_sorted_lines(expr) -%}
    string_agg({{ expr }}, chr(10) order by {{ expr }})
{%- endmacro %}

{% macro spark__pricing_sorted_lines(expr) -%}
    case
        when count({{ expr }}) > 0 then array_join(array_sort(collect_list({{ expr }})), chr(10))
    end
{%- endmacro %}
