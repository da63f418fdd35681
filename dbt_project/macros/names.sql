{#- The one normaliser of provider and model names (the README of schemas/ documents it):
    spaces trimmed at both ends, then lower-cased, so ' GPT-4o ' and 'gpt-4o' are one model.
    ingestion/validation/names.py is its Python side; both must stay the same expression. -#}
{% macro normalised_name(expression) -%}
    lower(trim({{ expression }}))
{%- endmacro %}
