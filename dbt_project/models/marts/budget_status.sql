{#- One row per budget x period (the current period at budget_as_of(), wall-clock now at build
    time, and the previous one). Spend is the cost of priced model calls that happened in
    [period_start, period_end) in the budget's scope, from agg_usage_hourly (periods are
    whole UTC hours). The forecast is a straight line: spend / elapsed fraction of the period;
    the ratio is rounded to 6 decimals so the money stays DECIMAL.

    A budget belongs to one tenant: it counts that tenant's spend only. budget_scopes
    resolves its scope to the (workspace, project, agent) combinations of that tenant it
    covers (two tenants may name a project alike). `is_scope_seen` says whether any event of
    the tenant ever named the budget's scope: a budget on a misspelt or retired scope would
    otherwise show $0 forever. -#}

with

periods as (

    select * from {{ ref('int_budget_periods_enumerated') }}

),

usage as (

    select
        hour_start,
        tenant_id,
        workspace_id,
        project_id,
        agent_id,
        cost_usd,
        unpriced_calls
    from {{ ref('agg_usage_hourly') }}
    where hour_start >= (select min(period_start) from periods)

),

scopes as (

    select * from {{ ref('budget_scopes') }}

),

spend as (

    select
        periods.budget_period_id,
        coalesce(sum(usage.cost_usd), 0) as spend_usd,
        cast(coalesce(sum(usage.unpriced_calls), 0) as bigint) as unpriced_calls
    from periods
    left join scopes
        on periods.tenant_id = scopes.tenant_id
        and periods.budget_id = scopes.budget_id
    left join usage
        on scopes.tenant_id = usage.tenant_id
        and scopes.workspace_id = usage.workspace_id
        and scopes.project_id = usage.project_id
        and scopes.agent_id = usage.agent_id
        and usage.hour_start >= periods.period_start
        and usage.hour_start < periods.period_end
    group by periods.budget_period_id

),

measured as (

    select
        periods.*,
        cast(spend.spend_usd as decimal(38, 24)) as spend_usd,
        spend.unpriced_calls,
        -- Elapsed share of the period at as_of: 1 for a period that is over.
        least(
            1.0,
            greatest(
                {{ epoch_ms('periods.as_of') }} - {{ epoch_ms('periods.period_start') }}, 1
            ) / ({{ epoch_ms('periods.period_end') }} - {{ epoch_ms('periods.period_start') }})
        ) as elapsed_fraction,
        exists (
            select 1 from scopes
            where scopes.tenant_id = periods.tenant_id and scopes.budget_id = periods.budget_id
        ) as is_scope_seen
    from periods
    inner join spend
        on periods.budget_period_id = spend.budget_period_id

),

final as (

    select
        budget_period_id,
        budget_id,
        tenant_id,
        period_kind,
        scope,
        scope_id,
        period,
        period_start,
        period_end,
        as_of,
        limit_usd,
        spend_usd,
        unpriced_calls,
        -- A percentage, the one place a division of money (in DOUBLE) is fine.
        cast(100.0 * spend_usd as double) / cast(nullif(limit_usd, 0) as double) as pct_used,
        thresholds,
        -- Exact decimal comparison: spend * 100 >= limit * threshold.
        {{ list_where('thresholds', 't', 'spend_usd * 100 >= limit_usd * t') }}
            as thresholds_crossed,
        {{ list_max(list_where('thresholds', 't', 'spend_usd * 100 >= limit_usd * t')) }}
            as highest_threshold_crossed,
        spend_usd >= limit_usd as is_over_limit,
        elapsed_fraction,
        case
            when elapsed_fraction >= 1 then spend_usd
            else cast(
                cast(spend_usd as decimal(38, 12))
                * cast(round(1.0 / elapsed_fraction, 6) as decimal(18, 6))
                as decimal(38, 24)
            )
        end as forecast_usd,
        enforcement,
        destination,
        is_scope_seen,
        -- Closed: past its end plus the close grace; crossings then are no live alerts.
        {{ budget_closes_at('period_end') }} as closes_at

    from measured

)

select
    *,
    forecast_usd > limit_usd as is_forecast_over_limit,
    as_of >= closes_at as is_closed,
    -- The key an alert for the highest crossed threshold carries (fct_alerts, the outbox).
    case
        when highest_threshold_crossed is not null then
            {{ budget_alert_dedupe_key(
                'tenant_id', 'budget_id', 'period_start', 'highest_threshold_crossed'
            ) }}
    end as alert_dedupe_key
from final
