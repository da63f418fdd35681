{#- One row per budget and period, every period ever (each with spend in the budget's scope,
    and the current and previous ones). A period closes `budget_close_grace_hours` after its
    end (macro budget_closes_at): from then on its limit and spend are the frozen figures of
    int_budget_period_closes, and spend that arrives later (late events, a reprice) is an
    adjustment beside the closed figure, never a rewrite of it. Open periods show the
    budgets file's limit and the spend so far. -#}

with

periods as (

    select * from {{ ref('int_budget_periods_spent') }}

),

closes as (

    select * from {{ ref('int_budget_period_closes') }}

),

joined as (

    select
        periods.tenant_id,
        periods.budget_id,
        periods.scope,
        periods.scope_id,
        coalesce(closes.period, periods.period) as period,
        periods.period_start,
        coalesce(closes.period_end, periods.period_end) as period_end,
        coalesce(closes.closes_at, {{ budget_closes_at('periods.period_end') }}) as closes_at,
        case when closes.budget_id is not null then 'closed' else 'open' end as status,
        coalesce(closes.limit_usd, periods.limit_usd) as limit_usd,
        periods.limit_usd as current_limit_usd,
        periods.spend_usd,
        periods.unpriced_calls,
        closes.spend_usd as spend_at_close_usd,
        closes.unpriced_calls as unpriced_calls_at_close,
        closes.closed_at
    from periods
    left join closes
        on periods.tenant_id = closes.tenant_id
        and periods.budget_id = closes.budget_id
        and periods.period_start = closes.period_start

)

select
    cast(concat_ws('|', tenant_id, budget_id, {{ utc_iso_text('period_start') }})
        as {{ dbt.type_string() }}) as budget_period_id,
    tenant_id,
    budget_id,
    scope,
    scope_id,
    period,
    period_start,
    period_end,
    closes_at,
    status,
    cast(limit_usd as decimal(38, 24)) as limit_usd,
    cast(current_limit_usd as decimal(38, 24)) as current_limit_usd,
    cast(spend_usd as decimal(38, 24)) as spend_usd,
    unpriced_calls,
    cast(spend_at_close_usd as decimal(38, 24)) as spend_at_close_usd,
    cast(spend_usd - spend_at_close_usd as decimal(38, 24)) as adjustment_usd,
    -- the figure the period is judged by: frozen once closed
    cast(coalesce(spend_at_close_usd, spend_usd) as decimal(38, 24)) as spend_of_record_usd,
    -- a percentage, the one place a division of money (in DOUBLE) is fine
    cast(100.0 * coalesce(spend_at_close_usd, spend_usd) as double)
        / cast(nullif(limit_usd, 0) as double) as pct_used,
    coalesce(spend_at_close_usd, spend_usd) > limit_usd as is_over_limit,
    closed_at
from joined
