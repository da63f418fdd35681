{#- The conflicting rows of dq_duplicate_events: a view on it, not a second copy (a table on
    Spark: publishing copies Spark's table files, and a view has none). -#}
{{ config(materialized=by_engine(duckdb='view', spark='table')) }}

select * from {{ ref('dq_duplicate_events') }}
where is_conflicting
