{#- One row per load the warehouse has registered: what the loader did with its lines (its
    commit record) beside what reached the lake (the registry). A table: one row per load,
    rebuilt from the two staging models without reading a file. -#}

with

loads as (

    select * from {{ ref('stg_lake__loads') }}

),

commits as (

    select * from {{ ref('stg_lake__load_commits') }}

),

final as (

    select
        loads.load_id,
        -- The rows' loaded_at is the load's start; a load without rows has only its id's.
        coalesce(loads.loaded_at, commits.load_started_at) as loaded_at,
        commits.accepted_lines,
        commits.quarantined_lines,
        commits.duplicate_lines,
        commits.conflicting_duplicate_lines,
        commits.conflicting_model_calls,
        commits.conflicting_run_completions,
        commits.files_loaded,
        commits.files_skipped,
        commits.load_seconds,
        loads.lake_rows,
        loads.first_occurred_at,
        loads.last_occurred_at,
        loads.built_at as registered_at

    from loads
    left join commits
        on loads.load_id = commits.load_id

)

select * from final
