{#- One row per load the registry (stg_lake__loads) holds: its commit record, the loader's
    own summary of the load. Incremental (a staging exception, like the registry): a commit
    record never changes, so each build reads only the records of the loads registered since
    this model last wrote, by name. -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='append_new_columns',
    )
}}

{%- set loads = ref('stg_lake__loads') -%}
{%- set unread = "select load_id from " ~ loads -%}
{%- if is_incremental() -%}
    {%- set unread = unread ~ " where load_id not in (select load_id from " ~ this ~ ")" -%}
{%- endif -%}
{%- set load_ids = query_values(unread ~ " order by 1") %}

with

source as (

    select * from {{ read_load_commits(source('lake', 'load_commits'), load_ids) }}

),

renamed as (

    select
        load_id,
        load_started_at,
        coalesce(accepted, 0) as accepted_lines,
        coalesce(quarantined, 0) as quarantined_lines,
        coalesce(duplicates, 0) as duplicate_lines,
        coalesce(conflicting_duplicates, 0) as conflicting_duplicate_lines,
        coalesce(conflicting_model_calls, 0) as conflicting_model_calls,
        coalesce(conflicting_run_completions, 0) as conflicting_run_completions,
        coalesce(blank_lines, 0) as blank_lines,
        coalesce(incomplete_lines, 0) as incomplete_lines,
        coalesce(files_seen, 0) as files_seen,
        coalesce(files_loaded, 0) as files_loaded,
        coalesce(files_skipped, 0) as files_skipped,
        coalesce(lake_files, 0) as lake_files,
        seconds as load_seconds,
        {{ build_stamp() }} as built_at

    from source

)

select * from renamed
