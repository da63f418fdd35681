{#- Delivery attempts the orchestration layer records for alerts (optional source: empty
    until the outbox exists). -#}
with

source as (

    select * from {{ outbox_alerts(source('outbox', 'alerts')) }}

),

renamed as (

    select
        dedupe_key,
        alert_id,
        alert_type,
        destination,
        lower(status) as delivery_status,
        cast(attempts as integer) as delivery_attempts,
        cast(last_attempt_at as {{ type_timestamptz() }}) as last_attempt_at,
        cast(sent_at as {{ type_timestamptz() }}) as sent_at,
        error_message,
        cast(created_at as {{ type_timestamptz() }}) as created_at,
        cast(recorded_at as {{ type_timestamptz() }}) as recorded_at

    from source

)

select * from renamed
