{#- One row per alert, identified by its dedupe key. Alert and budget ids are the producer's,
    so two tenants may use the same ones: every key names the tenant.
    - the `dedupe_key` attribute of the event when the producer set one (the orchestration
      layer writes a budget.threshold_hit and an alert.emitted per alert it sends, both
      carrying the key: they are one alert);
    - else, for alert.emitted: 'alert:<tenant_id>:<alert_id>' (emitted_alert_dedupe_key);
    - else, for budget.threshold_hit: 'budget:<tenant_id>:<budget_id>:<period_start>:<threshold>'
      (budget_alert_dedupe_key), so many hits of one threshold in one period are one alert;
    - deliveries recorded in the orchestration outbox (source `outbox.alerts`, optional)
      join on the same key; an outbox entry without an event yet is an alert too.
    Delivery status: the outbox's status when it has one; otherwise 'sent' when an
    alert.emitted reported sent_at, else 'pending'.

    An alert keeps what its events said when it was raised: the limit, threshold and spend of
    a budget.threshold_hit are the event's, never the budgets file's current ones, so a new
    limit changes the next alerts only. -#}

with

emitted as (

    select
        coalesce(
            attributes_dedupe_key, {{ emitted_alert_dedupe_key('tenant_id', 'alert_id') }}
        ) as dedupe_key,
        alert_id,
        'alert.emitted' as alert_source,
        alert_type,
        tenant_id,
        workspace_id,
        project_id,
        agent_id,
        run_id,
        cast(null as {{ dbt.type_string() }}) as budget_id,
        alert_threshold as threshold,
        alert_current_value as current_value,
        cast(null as decimal(38, 24)) as limit_usd,
        cast(null as decimal(38, 24)) as spend_usd,
        alert_destination as destination,
        alert_sent_at as sent_at,
        event_id,
        occurred_at,
        loaded_at
    from {{ ref('stg_lake__alert_events') }}

),

budgets as (

    select tenant_id, budget_id, destination from {{ ref('stg_reference__budgets') }}

),

budget_hits as (

    select
        coalesce(
            hits.attributes_dedupe_key,
            {{ budget_alert_dedupe_key('hits.tenant_id', 'hits.budget_id',
                                       'hits.budget_period_start', 'hits.budget_threshold_pct') }}
        ) as dedupe_key,
        cast(null as {{ dbt.type_string() }}) as alert_id,
        'budget.threshold_hit' as alert_source,
        'budget_threshold' as alert_type,
        hits.tenant_id,
        hits.workspace_id,
        hits.project_id,
        hits.agent_id,
        hits.run_id,
        hits.budget_id,
        hits.budget_threshold_pct as threshold,
        -- Percent of the limit spent when the hit was reported.
        cast(100.0 * hits.budget_spend_usd as double)
            / cast(nullif(hits.budget_limit_usd, 0) as double) as current_value,
        cast(hits.budget_limit_usd as decimal(38, 24)) as limit_usd,
        cast(hits.budget_spend_usd as decimal(38, 24)) as spend_usd,
        -- Where the budget sends alerts (what was actually sent, from an alert.emitted or the
        -- outbox, wins below).
        budgets.destination,
        cast(null as {{ type_timestamptz() }}) as sent_at,
        hits.event_id,
        hits.occurred_at,
        hits.loaded_at
    from {{ ref('stg_lake__budget_threshold_hits') }} as hits
    left join budgets
        on hits.tenant_id = budgets.tenant_id
        and hits.budget_id = budgets.budget_id

),

alert_events as (

    select * from emitted
    union all
    select * from budget_hits

),

alerts as (

    -- The first event describes the alert; an alert.emitted's id and destination (what was
    -- actually sent) win over those a threshold hit implies.
    select
        dedupe_key,
        min_by(alert_id, {{ sort_key(['occurred_at', 'event_id']) }}) filter (where alert_id is not null)
            as alert_id,
        min_by(alert_source, {{ sort_key(['occurred_at', 'event_id']) }}) as alert_source,
        min_by(alert_type, {{ sort_key(['occurred_at', 'event_id']) }}) as alert_type,
        min_by(tenant_id, {{ sort_key(['occurred_at', 'event_id']) }}) as tenant_id,
        min_by(workspace_id, {{ sort_key(['occurred_at', 'event_id']) }}) as workspace_id,
        min_by(project_id, {{ sort_key(['occurred_at', 'event_id']) }}) as project_id,
        min_by(agent_id, {{ sort_key(['occurred_at', 'event_id']) }}) as agent_id,
        min_by(run_id, {{ sort_key(['occurred_at', 'event_id']) }}) as run_id,
        min_by(budget_id, {{ sort_key(['occurred_at', 'event_id']) }}) filter (where budget_id is not null)
            as budget_id,
        min_by(threshold, {{ sort_key(['occurred_at', 'event_id']) }}) as threshold,
        min_by(current_value, {{ sort_key(['occurred_at', 'event_id']) }}) as current_value,
        min_by(limit_usd, {{ sort_key(['occurred_at', 'event_id']) }}) filter (where limit_usd is not null)
            as limit_usd,
        min_by(spend_usd, {{ sort_key(['occurred_at', 'event_id']) }}) filter (where spend_usd is not null)
            as spend_usd,
        coalesce(
            min_by(destination, {{ sort_key(['occurred_at', 'event_id']) }})
                filter (where alert_source = 'alert.emitted'),
            min_by(destination, {{ sort_key(['occurred_at', 'event_id']) }})
        ) as destination,
        min(sent_at) as sent_at,
        min_by(event_id, {{ sort_key(['occurred_at', 'event_id']) }}) as first_event_id,
        count(*) as event_count,
        min(occurred_at) as first_occurred_at,
        max(loaded_at) as last_loaded_at
    from alert_events
    group by dedupe_key

),

outbox as (

    select *
    from {{ ref('stg_outbox__alerts') }}
    qualify row_number() over (
        partition by dedupe_key
        order by recorded_at desc nulls last, delivery_attempts desc nulls last
    ) = 1

),

final as (

    select
        coalesce(alerts.dedupe_key, outbox.dedupe_key) as dedupe_key,
        coalesce(alerts.alert_id, outbox.alert_id, alerts.dedupe_key, outbox.dedupe_key)
            as alert_id,
        coalesce(alerts.alert_source, 'outbox') as alert_source,
        coalesce(alerts.alert_type, outbox.alert_type) as alert_type,
        alerts.tenant_id,
        alerts.workspace_id,
        alerts.project_id,
        alerts.agent_id,
        alerts.run_id,
        alerts.budget_id,
        alerts.threshold,
        alerts.current_value,
        alerts.limit_usd,
        alerts.spend_usd,
        coalesce(outbox.destination, alerts.destination) as destination,
        coalesce(
            outbox.delivery_status,
            case when alerts.sent_at is not null then 'sent' else 'pending' end
        ) as delivery_status,
        coalesce(outbox.delivery_attempts, 0) as delivery_attempts,
        coalesce(outbox.sent_at, alerts.sent_at) as sent_at,
        outbox.last_attempt_at,
        outbox.error_message as delivery_error,
        alerts.first_event_id,
        coalesce(alerts.event_count, 0) as event_count,
        coalesce(alerts.first_occurred_at, outbox.created_at) as first_occurred_at,
        alerts.last_loaded_at
    from alerts
    full outer join outbox
        on alerts.dedupe_key = outbox.dedupe_key

)

select * from final
