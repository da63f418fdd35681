{#- One row per budget and period that had spend in the budget's scope (every one ever), plus
    the current and the previous period at budget_as_of(): the spend of the budget's own
    tenant's priced calls in [period_start, period_end), from agg_usage_hourly (periods are
    whole UTC hours), and the unpriced calls beside it. -#}

with

budgets as (

    select * from {{ ref('stg_reference__budgets') }}

),

scopes as (

    select * from {{ ref('budget_scopes') }}

),

usage as (

    select hour_start, tenant_id, workspace_id, project_id, agent_id, cost_usd, unpriced_calls
    from {{ ref('agg_usage_hourly') }}

),

budget_usage as (

    select
        budgets.tenant_id,
        budgets.budget_id,
        budgets.period,
        usage.hour_start,
        usage.cost_usd,
        usage.unpriced_calls
    from budgets
    inner join scopes
        on budgets.tenant_id = scopes.tenant_id
        and budgets.budget_id = scopes.budget_id
    inner join usage
        on scopes.tenant_id = usage.tenant_id
        and scopes.workspace_id = usage.workspace_id
        and scopes.project_id = usage.project_id
        and scopes.agent_id = usage.agent_id

),

spent as (

    select
        tenant_id,
        budget_id,
        {{ budget_period_start('period', 'hour_start') }} as period_start,
        coalesce(sum(cost_usd), 0) as spend_usd,
        sum(unpriced_calls) as unpriced_calls
    from budget_usage
    group by 1, 2, 3

),

recent as (

    select tenant_id, budget_id, period_start
    from {{ ref('int_budget_periods_enumerated') }}

),

periods as (

    select tenant_id, budget_id, period_start from spent
    union
    select tenant_id, budget_id, period_start from recent

)

select
    budgets.tenant_id,
    budgets.budget_id,
    budgets.scope,
    budgets.scope_id,
    budgets.period,
    budgets.limit_usd,
    periods.period_start,
    {{ budget_period_start('budgets.period', 'periods.period_start', 1) }} as period_end,
    cast(coalesce(spent.spend_usd, 0) as decimal(38, 24)) as spend_usd,
    cast(coalesce(spent.unpriced_calls, 0) as bigint) as unpriced_calls
from periods
inner join budgets
    on periods.tenant_id = budgets.tenant_id
    and periods.budget_id = budgets.budget_id
left join spent
    on periods.tenant_id = spent.tenant_id
    and periods.budget_id = spent.budget_id
    and periods.period_start = spent.period_start
