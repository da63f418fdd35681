{#- One row per quarantined line, ready to list: the reason, the first error as one
    sentence and the beginning of the line. The full record stays in the quarantine file
    (and in stg_quarantine__lines). -#}

with

lines as (

    select * from {{ ref('stg_quarantine__lines') }}

),

final as (

    select
        quarantined_line_id,
        quarantined_at,
        coalesce(reason_code, '(unreadable)') as reason_code,
        concat_ws(': ', first_error_path, first_error_message) as first_error,
        error_count,
        source,
        line_no,
        event_id,
        -- Enough to find the line; a line may be 256 KiB.
        left(coalesce(raw, 'base64: ' || raw_b64), 500) as raw_excerpt,
        load_id,
        quarantine_file,
        built_at as registered_at

    from lines

)

select * from final
