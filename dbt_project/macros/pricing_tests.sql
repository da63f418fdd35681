{#- Generic test: the ledger's entries of each model call sum to its current price.

    Fails for a call priced now whose entries do not sum to exactly cost_usd, a call unpriced
    now whose entries hold money (a non-zero sum), and a call with no entry at all.
    Checked for the calls of the latest pricing and the latest booking: a call neither
    repriced nor booked since the build that last checked it cannot have changed balance.

    Both tables hold millions of rows; the touched calls are found without reading them all:
    - their prices: the latest pricing holds most of them; only the calls booked now but
      priced earlier are looked up in the whole table (a scan skipped when there are none);
    - their entries: a call is booked only by a build that registered its load, so no entry
      is older than the call's loaded_at, less the few seconds a build may start before a
      load it registers has committed (an hour of slack). The ledger is append-only, so
      DuckDB skips the older bookings by booked_at. A wrong bound could only hide entries,
      that is make the test fail, never pass. -#}
{% test pricing_ledger_balances(model, priced) %}

with priced_now as (

    select {{ tenant_key('model_call_id') }}, cost_usd, loaded_at
    from {{ priced }}
    where {{ _latest_write(priced, 'built_at') }}

),

booked_now as (

    select distinct {{ tenant_key('model_call_id') }}
    from {{ model }}
    where {{ _latest_write(model, 'booked_at') }}

),

touched as (

    select * from priced_now
    union all
    select {{ tenant_key('model_call_id', 'p') }}, p.cost_usd, p.loaded_at
    from {{ priced }} as p
    where exists (
        select 1 from booked_now
        where {{ tenant_key_match('model_call_id', 'booked_now', 'p') }}
            and not exists (
                select 1 from priced_now
                where {{ tenant_key_match('model_call_id', 'priced_now', 'booked_now') }}
            )
    )

),

ledger as (

    select {{ tenant_key('model_call_id') }}, sum(cost_usd) as ledger_cost_usd, count(*) as entry_count
    from {{ model }}
    where {{ tenant_key_in('model_call_id', 'touched') }}
        and booked_at >= (select min(loaded_at) from touched) - interval 1 hour
    group by all

)

select
    touched.tenant_id,
    touched.model_call_id,
    touched.cost_usd,
    ledger.ledger_cost_usd,
    ledger.entry_count
from touched
left join ledger
    on {{ tenant_key_match('model_call_id', 'touched', 'ledger') }}
where
    ledger.model_call_id is null
    or (touched.cost_usd is not null and ledger.ledger_cost_usd is distinct from touched.cost_usd)
    or (touched.cost_usd is null and coalesce(ledger.ledger_cost_usd, 0) <> 0)

{% endtest %}

{#- Generic test: the column is NULL exactly when `condition` holds (e.g. a cost is NULL
    exactly for unpriced calls: never a silent 0, never a missing price). -#}
{% test pricing_null_exactly_when(model, column_name, condition) %}

select *
from {{ model }}
where ({{ column_name }} is null) <> ({{ condition }})

{% endtest %}
