{#- The cost ledger and the daily aggregates tell finance the same story: for every UTC day
    and tenant, the sum of fct_cost_ledger.cost_usd equals the sum of agg_usage_daily.cost_usd
    (NULL costs of unpriced calls count as nothing on both sides). Returns the disagreeing
    (day, tenant) pairs. -#}

with

ledger as (

    select
        {{ utc_date('occurred_at') }} as usage_date,
        tenant_id,
        coalesce(sum(cost_usd), 0) as ledger_cost_usd
    from {{ ref('fct_cost_ledger') }}
    group by all

),

daily as (

    select
        usage_date,
        tenant_id,
        coalesce(sum(cost_usd), 0) as daily_cost_usd
    from {{ ref('agg_usage_daily') }}
    group by all

)

select
    coalesce(ledger.usage_date, daily.usage_date) as usage_date,
    coalesce(ledger.tenant_id, daily.tenant_id) as tenant_id,
    ledger.ledger_cost_usd,
    daily.daily_cost_usd
from ledger
full outer join daily
    on ledger.usage_date = daily.usage_date
    and ledger.tenant_id = daily.tenant_id
where coalesce(ledger.ledger_cost_usd, 0) <> coalesce(daily.daily_cost_usd, 0)
