{#- One row per provider and UTC usage day that either the ledger or an imported statement
    has: what we booked (ledger_usd), what producers reported themselves (reported_usd), what
    the provider invoiced (invoiced_usd) and whether they agree.

    The statement in force for a provider-day is the latest import that covers it (a corrected
    statement replaces an earlier one for its days; stg_reference__statements keeps them all);
    its model lines roll up to the provider-day. `match` means the invoice is within the
    tolerance of the ledger: reconciliation_tolerance_usd, or reconciliation_tolerance_pct
    percent of the ledger (dbt vars, dbt_project.yml). -#}

{%- set tolerance_usd = var('reconciliation_tolerance_usd') -%}
{%- set tolerance_pct = var('reconciliation_tolerance_pct') -%}

with

ledger as (

    select
        provider,
        {{ pricing_utc_date('occurred_at') }} as usage_date,
        sum(cost_usd) as ledger_usd
    from {{ ref('fct_cost_ledger') }}
    group by 1, 2

),

calls as (

    select
        provider,
        {{ pricing_utc_date('occurred_at') }} as usage_date,
        count(*) as model_calls,
        sum(case when price_status = 'unpriced' then 1 else 0 end) as unpriced_calls,
        sum(case when reported_cost_usd is not null then 1 else 0 end) as reported_calls,
        sum(reported_cost_usd) as reported_usd,
        sum(case when reported_cost_usd is not null then cost_usd end) as reported_ledger_usd
    from {{ ref('fct_model_calls') }}
    group by 1, 2

),

statement_lines as (

    select * from {{ ref('stg_reference__statements') }}

),

in_force as (

    select provider, usage_date, max(import_seq) as import_seq
    from statement_lines
    group by 1, 2

),

invoiced as (

    select
        statement_lines.provider,
        statement_lines.usage_date,
        max(statement_lines.statement_id) as statement_id,
        max(statement_lines.imported_at) as imported_at,
        count(*) as statement_lines,
        sum(statement_lines.amount_usd) as invoiced_usd
    from statement_lines
    inner join in_force
        on statement_lines.provider = in_force.provider
        and statement_lines.usage_date = in_force.usage_date
        and statement_lines.import_seq = in_force.import_seq
    group by 1, 2

),

days as (

    select provider, usage_date from calls
    union
    select provider, usage_date from invoiced

),

joined as (

    select
        days.provider,
        days.usage_date,
        coalesce(calls.model_calls, 0) as model_calls,
        coalesce(calls.unpriced_calls, 0) as unpriced_calls,
        coalesce(ledger.ledger_usd, 0) as ledger_usd,
        coalesce(calls.reported_calls, 0) as reported_calls,
        calls.reported_usd,
        calls.reported_ledger_usd,
        invoiced.invoiced_usd,
        invoiced.statement_id,
        invoiced.imported_at as statement_imported_at
    from days
    left join calls
        on days.provider = calls.provider
        and days.usage_date = calls.usage_date
    left join ledger
        on days.provider = ledger.provider
        and days.usage_date = ledger.usage_date
    left join invoiced
        on days.provider = invoiced.provider
        and days.usage_date = invoiced.usage_date

),

compared as (

    select
        *,
        invoiced_usd - ledger_usd as diff_usd,
        reported_usd - reported_ledger_usd as reported_diff_usd
    from joined

)

select
    cast(concat_ws('|', provider, cast(usage_date as {{ dbt.type_string() }}))
        as {{ dbt.type_string() }}) as reconciliation_id,
    provider,
    usage_date,
    cast(model_calls as bigint) as model_calls,
    cast(unpriced_calls as bigint) as unpriced_calls,
    cast(ledger_usd as decimal(38, 24)) as ledger_usd,
    cast(reported_calls as bigint) as reported_calls,
    cast(reported_usd as decimal(38, 24)) as reported_usd,
    cast(reported_ledger_usd as decimal(38, 24)) as reported_ledger_usd,
    cast(reported_diff_usd as decimal(38, 24)) as reported_diff_usd,
    cast(invoiced_usd as decimal(38, 24)) as invoiced_usd,
    cast(diff_usd as decimal(38, 24)) as diff_usd,
    -- a ratio, not money: DOUBLE is fine (NULL when the ledger is 0)
    cast(
        case when ledger_usd <> 0 then round(100 * cast(diff_usd as double) / cast(ledger_usd as double), 6) end
        as double
    ) as diff_pct,
    case
        when invoiced_usd is null then 'missing_invoice'
        when model_calls = 0 then 'missing_ledger'
        when
            abs(diff_usd) <= {{ tolerance_usd }}
            or abs(diff_usd) * 100 <= abs(ledger_usd) * {{ tolerance_pct }}
            then 'match'
        when diff_usd > 0 then 'over'
        else 'under'
    end as status,
    statement_id,
    statement_imported_at
from compared
