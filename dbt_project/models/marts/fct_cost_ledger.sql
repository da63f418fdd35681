{#- The cost ledger: one row per ledger entry, append-only. Each build appends, per model call,
    the difference between its price under the current price book (int_model_calls_priced)
    and what the ledger already holds for it (a call is its tenant's: keyed (tenant_id,
    model_call_id), macros/keys.sql), so the sum of a call's entries is always its
    current price:

    - `usage`    the first priced booking of a call (also when a call booked unpriced later
                 gets a price, e.g. from a new override);
    - `unpriced` the first booking of a call without a price: NULL cost, never 0;
    - `reprice`  the price book changed: the delta (a reversal down to 0 if the call lost its
                 price, followed by an `unpriced` entry so the ledger says so).

    New calls are those without an entry yet (race-free, unlike a load-time watermark: a load
    that commits during a build is simply booked by the next one). Calls already booked are
    re-checked only when the price book version differs from the last booking's. A rebuild
    with nothing new appends nothing. `full_refresh=false`: a full refresh must not wipe
    finance's history; drop the table on purpose if it really has to go. -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        full_refresh=false,
    )
}}

{#- The latest booking's instant, looked up first and inlined: DuckDB then skips the row
    groups of calls priced before it (a unit test, whose `this` is a CTE, gets the subquery).

    `only_new` is the common build: the price book is the one of the last booking, so the
    only candidates are calls priced since then, and the ledger is read for those calls alone
    (a semi-join on a few thousand ids instead of marking millions of priced calls against
    the whole ledger). It gives the rows of the general path below, which unit tests and
    price book changes take. -#}
{%- set only_new = false -%}
{%- if is_incremental() and execute and model.resource_type != 'unit_test' -%}
    {%- set last_booking_at = max_timestamptz_literal(this, 'booked_at') -%}
    {%- if last_booking_at is not none -%}
        {%- set versions = run_query(
            "select (select price_book_version from " ~ this ~ " where booked_at = "
            ~ last_booking_at ~ " limit 1), (select price_book_version from "
            ~ ref('int_price_book_version') ~ ")"
        ).rows[0] -%}
        {%- set only_new = versions[0] is not none and versions[0] == versions[1] -%}
    {%- else -%}
        {%- set last_booking_at = min_timestamptz() -%}
    {%- endif -%}
{%- else -%}
    {%- set last_booking_at =
        "(select coalesce(max(booked_at), " ~ min_timestamptz() ~ ") from ledger)" -%}
{%- endif %}

with

calls as (

    select
        tenant_id,
        model_call_id,
        run_id,
        workspace_id,
        project_id,
        agent_id,
        workflow_id,
        provider,
        model,
        occurred_at
    from {{ ref('stg_lake__model_calls') }}

),

priced as (

    select tenant_id, model_call_id, cost_usd, price_book_version, built_at
    from {{ ref('int_model_calls_priced') }}

),

price_book as (

    select price_book_version from {{ ref('int_price_book_version') }}

),

ledger as (

    {% if only_new %}
    select tenant_id, model_call_id, cost_usd, reason, price_book_version, booked_at
    from {{ this }}
    where {{ tenant_key_in(
        'model_call_id', '(select * from priced where built_at > ' ~ last_booking_at ~ ')'
    ) }}
    {% elif is_incremental() %}
    select tenant_id, model_call_id, cost_usd, reason, price_book_version, booked_at
    from {{ this }}
    {% else %}
    select
        cast(null as {{ dbt.type_string() }}) as tenant_id,
        cast(null as {{ dbt.type_string() }}) as model_call_id,
        cast(null as decimal(38, 24)) as cost_usd,
        cast(null as {{ dbt.type_string() }}) as reason,
        cast(null as {{ dbt.type_string() }}) as price_book_version,
        cast(null as {{ type_timestamptz() }}) as booked_at
    where false
    {% endif %}

),

last_booking as (

    select price_book_version
    from ledger
    order by booked_at desc
    limit 1

),

-- Calls without an entry yet, and every call when the price book changed since the last
-- booking (the ledger is empty on the first build, which counts as a change).
candidates as (

    select priced.tenant_id, priced.model_call_id, priced.cost_usd, priced.price_book_version
    from priced
    where
        {% if not only_new -%}
        (select price_book_version from price_book)
        is distinct from (select price_book_version from last_booking)
        -- priced since the last booking (a build whose ledger step failed is caught up
        -- here) and not booked yet: the anti-join then only probes this build's calls
        or
        {%- endif %} (
            priced.built_at > {{ last_booking_at }}
            and not exists (
                select 1 from ledger
                where {{ tenant_key_match('model_call_id', 'ledger', 'priced') }}
            )
        )

),

booked as (

    select
        {{ tenant_key('model_call_id') }},
        sum(cost_usd) as booked_cost_usd,
        count(*) as entry_count,
        -- unpriced as last booked: its latest build booked an 'unpriced' entry
        coalesce(
            max(case when reason = 'unpriced' then booked_at end) = max(booked_at), false
        ) as is_booked_unpriced
    from ledger
    where {{ tenant_key_in('model_call_id', 'candidates') }}
    group by all

),

entries as (

    select
        candidates.tenant_id,
        candidates.model_call_id,
        candidates.price_book_version,
        coalesce(booked.entry_count, 0) + 1 as entry_sequence,
        case
            when booked.model_call_id is null and candidates.cost_usd is null then 'unpriced'
            when booked.model_call_id is null then 'usage'
            -- booked unpriced so far, priced now
            when booked.booked_cost_usd is null and candidates.cost_usd is not null then 'usage'
            when
                booked.booked_cost_usd is not null
                and coalesce(candidates.cost_usd, 0) <> booked.booked_cost_usd
                then 'reprice'
        end as reason,
        case
            when booked.booked_cost_usd is null then candidates.cost_usd
            else coalesce(candidates.cost_usd, 0) - booked.booked_cost_usd
        end as entry_cost_usd
    from candidates
    left join booked
        on {{ tenant_key_match('model_call_id', 'candidates', 'booked') }}

),

-- A call that lost its price (booked priced, unpriced now) gets, beside the reversal of what
-- was booked, an 'unpriced' entry (NULL cost) after it: the ledger then says the call is
-- unpriced, as fct_model_calls does, instead of a silent 0 that reads as a priced call.
unpriced_markers as (

    select
        candidates.tenant_id,
        candidates.model_call_id,
        candidates.price_book_version,
        booked.entry_count + case when booked.booked_cost_usd <> 0 then 2 else 1 end
            as entry_sequence,
        'unpriced' as reason,
        cast(null as decimal(38, 24)) as entry_cost_usd
    from candidates
    inner join booked
        on {{ tenant_key_match('model_call_id', 'candidates', 'booked') }}
    where candidates.cost_usd is null and not booked.is_booked_unpriced

),

all_entries as (

    select * from entries where reason is not null
    union all
    select * from unpriced_markers

)

select
    {{ pricing_sha256(
        "concat_ws('|', " ~ tenant_key_string('model_call_id', 'all_entries')
        ~ ", all_entries.price_book_version, all_entries.reason, "
        ~ "cast(all_entries.entry_sequence as " ~ dbt.type_string() ~ "))"
    ) }} as ledger_entry_id,
    all_entries.model_call_id,
    calls.run_id,
    calls.tenant_id,
    calls.workspace_id,
    calls.project_id,
    calls.agent_id,
    calls.workflow_id,
    calls.provider,
    calls.model,
    calls.occurred_at,
    cast(all_entries.entry_cost_usd as decimal(38, 24)) as cost_usd,
    'USD' as currency,
    all_entries.reason,
    all_entries.price_book_version,
    {{ build_stamp() }} as booked_at
from all_entries
inner join calls
    on {{ tenant_key_match('model_call_id', 'all_entries', 'calls') }}
