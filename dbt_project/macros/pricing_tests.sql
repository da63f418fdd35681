{#- Generic test: the ledger's entries of each model call sum to its current price.

    Fails for a call priced now whose entries do not sum to exactly cost_usd, a call unpriced
    now whose entries hold money (a non-zero sum), and a call with no entry at all. -#}
{% test pricing_ledger_balances(model, priced) %}

with ledger as (

    select model_call_id, sum(cost_usd) as ledger_cost_usd, count(*) as entry_count
    from {{ model }}
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
where
    ledger.model_call_id is null
    or (priced.cost_usd is not null and ledger.ledger_cost_usd is distinct from priced.cost_usd)
    or (priced.cost_usd is null and coalesce(ledger.ledger_cost_usd, 0) <> 0)

{% endtest %}

{#- Generic test: the column is NULL exactly when `condition` holds (e.g. a cost is NULL
    exactly for unpriced calls: never a silent 0, never a missing price). -#}
{% test pricing_null_exactly_when(model, column_name, condition) %}

select *
from {{ model }}
where ({{ column_name }} is null) <> ({{ condition }})

{% endtest %}
