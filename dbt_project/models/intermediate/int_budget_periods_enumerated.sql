{#- One row per budget x period: the current period (containing budget_as_of()) and the
    previous one. A budget belongs to its tenant: tenant_id travels with every row. -#}

with

budgets as (

    select * from {{ ref('stg_reference__budgets') }}

),

as_of as (

    select {{ budget_as_of() }} as as_of

),

periods as (

    select
        budgets.budget_id,
        budgets.tenant_id,
        budgets.scope,
        budgets.scope_id,
        budgets.period,
        budgets.limit_usd,
        budgets.thresholds,
        budgets.enforcement,
        budgets.destination,
        as_of.as_of,
        offsets.period_offset,
        case offsets.period_offset when 0 then 'current' else 'previous' end as period_kind
    from budgets
    cross join as_of
    cross join (values (0), (-1)) as offsets (period_offset)

)

select
    budget_id || '@' || period_kind as budget_period_id,
    budget_id,
    tenant_id,
    scope,
    scope_id,
    period,
    limit_usd,
    thresholds,
    enforcement,
    destination,
    as_of,
    period_kind,
    {{ budget_period_start('period', 'as_of', 'period_offset') }} as period_start,
    {{ budget_period_start('period', 'as_of', 'period_offset + 1') }} as period_end
from periods
