{{ config(materialized='view') }}

select * from {{ ref('dq_duplicate_events') }}
where is_conflicting
