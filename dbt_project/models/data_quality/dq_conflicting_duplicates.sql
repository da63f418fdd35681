{#- The conflicting rows of dq_duplicate_events: a view on it, not a second copy. -#}
{{ config(materialized='view') }}

select * from {{ ref('dq_duplicate_events') }}
where is_conflicting
