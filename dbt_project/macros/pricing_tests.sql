{#- Generic test: the ledger's entries of each model call sum to its current price.

    Fails for a call priced now whose entries do not sum to exactly cost_usd, a call unpriced
    now whose entries hold money (a non-zero sum), and a call with no entry at all.
    Checked for the calls of the latest pricing and the latest booking: a call neither
    repriced nor booked since the build that last checked it cannot have changed balance. -#}
{% test pricing_ledger_balances(model, priced) %}

with touched as (

    select model_call_id from {{ priced }} where {{ _latest_write(priced, 'built_at') }}
    union
    select model_call_id from {{ model }} where {{ _latest_write(model, 'booked_at') }}

),

ledger as (

    select model_call_id, sum(cost_usd) as ledger_cost_usd, count(*) as entry_count
    from {{ model }}
    where model_call_id in (select model_call_id from touched)
    group by model_call_id

)

select
    priced.model_call_id,
    priced.cost_usd,
    ledger.ledger_cost_usd,
    ledger.entry_count
from {{ priced }} as priced
left join ledger
    on priced.model_call_id = ledger.model_call_id
where priced.model_call_id in (select model_call_id from touched) and (
    ledger.model_call_id is null
    or (priced.cost_usd is not null and ledger.ledger_cost_usd is distinct from priced.cost_usd)
    or (priced.cost_usd is null and coalesce(ledger.ledger_cost_usd, 0) <> 0)
)

{% endtest %}

{#- Generic test: the column is NULL exactly when `condition` holds (e.g. a cost is NULL
    exactly for unpriced calls: never a silent 0, never a missing price). -#}
{% test pricing_null_exactly_when(model, column_name, condition) %}

select *
from {{ model }}
where ({{ column_name }} is null) <> ({{ condition }})

{% endtest %}
