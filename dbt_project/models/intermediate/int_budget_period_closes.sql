{#- One row per budget period that has closed: its limit and spend as they stood at the first
    build after `closes_at` (period end + budget_close_grace_hours, macro budget_closes_at).

    Why an incremental model: the budgets file keeps only today's limits and the marts are
    rebuilt from the lake, so a closed figure can only be frozen by keeping it. This table is
    append-only, each build adding the periods that closed since the last one, and
    `full_refresh=false` (like fct_cost_ledger) so a full refresh never rewrites finance's
    closed books. It lives in the build database, which every build and publish keeps. A
    runtime snapshot under reference/ would survive the build database too, but would be a
    second writer of warehouse state outside dbt; this keeps the close inside the build that
    computes the spend, on both engines (append is the one strategy they share). -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        full_refresh=false,
    )
}}

with

periods as (

    select
        *,
        {{ budget_closes_at('period_end') }} as closes_at,
        {{ budget_as_of() }} as as_of
    from {{ ref('int_budget_periods_spent') }}

),

{% if is_incremental() %}
closed_already as (

    select tenant_id, budget_id, period_start from {{ this }}

),
{% endif %}

closing as (

    select periods.*
    from periods
    {% if is_incremental() %}
    left join closed_already
        on periods.tenant_id = closed_already.tenant_id
        and periods.budget_id = closed_already.budget_id
        and periods.period_start = closed_already.period_start
    {% endif %}
    where periods.closes_at <= periods.as_of
        {% if is_incremental() %}and closed_already.budget_id is null{% endif %}

)

select
    tenant_id,
    budget_id,
    period,
    period_start,
    period_end,
    closes_at,
    cast(limit_usd as decimal(38, 24)) as limit_usd,
    cast(spend_usd as decimal(38, 24)) as spend_usd,
    unpriced_calls,
    as_of as closed_as_of,
    {{ build_stamp() }} as closed_at
from closing
