{#- One row per quarantined line (source `quarantine.lines`). Incremental (a staging
    exception, like the lake's registry): a quarantine file never changes once it has its
    name, so each build reads only the files it has not read yet, and only those of loads
    the registry holds (macros/loader_files.sql). -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='append_new_columns',
    )
}}

{%- set file_names = quarantine_file_names(
    ref('stg_lake__loads'), this if is_incremental() else none
) %}

with

source as (

    select * from {{ read_quarantine_lines(source('quarantine', 'lines'), file_names) }}

),

renamed as (

    select
        {{ surrogate_key(['quarantine_file', 'source', 'line_no']) }} as quarantined_line_id,
        quarantine_file,
        -- A file load's quarantine is named by its load id; the HTTP loader's have none.
        case
            when quarantine_file like 'L%' then replace(quarantine_file, '.jsonl', '')
        end as load_id,
        source,
        line_no,
        reason_code,
        errors,
        error_count,
        first_error_path,
        first_error_message,
        event_id,
        raw,
        raw_b64,
        quarantined_at,
        {{ build_stamp() }} as built_at

    from source

)

select * from renamed
