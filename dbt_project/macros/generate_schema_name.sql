{#- Custom schemas are used as named (`marts`, not `main_marts`): the README ("Reading the warehouse")
    promises readers `marts.fct_events`, whatever the target schema is. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
