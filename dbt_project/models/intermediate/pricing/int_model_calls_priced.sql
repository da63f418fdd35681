{#- One row per model call: its cost under the current price book, computed the way
    genai-prices' calc_price computes it (the README's "Cost", checked call by call against
    calc_price by tests/warehouse/test_pricing_money_rule.py).

    1. The (provider, model) strings resolve to a genai-prices model (int_model_refs_resolved).
    2. The conditional price: the most specific match first (an override on the exact strings,
       then an override on the resolved model, then genai-prices); within it the active
       condition with the highest price_index, where active means on or after `starts_on` (UTC
       date) and inside the UTC time-of-day window; genai-prices' index 0 when none is active.
    3. Per price key, the tier with the highest tier_start below the call's input tokens (base
       is -1): a cliff, the whole count pays that tier's price. Resolved as bands on the small
       price table, so each call joins exactly one row.
    4. Unit counts: input tokens include cache reads and writes, which are taken out of the
       input count when they have a price of their own (else billed as input); output tokens;
       one request. Every other unit genai-prices knows counts 0 for our events (proved for
       every conditional price of the package by ingestion.reference.pricebook.check_leaf_rule).
       An override that names only some keys inherits the others, per call, from the
       condition genai-prices itself would use for the call (same date and tier rules); where
       genai-prices does not know the model, they stay unpriced (the build warns and
       marts.price_overrides_incomplete lists the override).
    5. cost_usd = sum(count * price of one unit), DECIMAL(38, 24), exact: no division, no
       DOUBLE. A condition without prices costs 0, as in genai-prices; a call with no price at
       all is 'unpriced' with a NULL cost, never 0.

    Incremental like stg_lake__model_calls (the calls it registered since this model's last
    write, macros/incremental.sql); every call is repriced when the price book version
    changes (a new genai-prices release or an edited override). -#}
{#- price_book_changed runs a query on {{ this }}, which a unit test only has as a CTE. -#}
{%- set reprice_all = model.resource_type != 'unit_test'
    and price_book_changed(ref('int_price_book_version')) -%}
{%- set has_built_at = model.resource_type == 'unit_test' or not execute or not is_incremental()
    or 'built_at' in (adapter.get_columns_in_relation(this) | map(attribute='name') | list) -%}
{{- refuse_incremental_reprice(reprice_all) }}
{#- Spark: every row of the incremental branch is new (a price book change is a full refresh
    there, see refuse_incremental_reprice), so appending gives the same rows. -#}
{{
    config(
        materialized='incremental',
        incremental_strategy=by_engine(duckdb='delete+insert', spark='append'),
        unique_key=tenant_key_columns('model_call_id'),
        on_schema_change='append_new_columns',
    )
}}

with

calls as (

    select
        tenant_id,
        model_call_id,
        provider,
        model,
        occurred_at,
        input_tokens,
        output_tokens,
        cached_tokens,
        cache_write_tokens,
        loaded_at
    from {{ ref('stg_lake__model_calls') }}
    {% if is_incremental() and not reprice_all %}
    -- the calls staging registered since this model's last write (a table from before
    -- built_at existed reprices everything once)
    where built_at > {{ last_built_at() if has_built_at else min_timestamptz() }}
    {% endif %}

),

refs as (

    select provider, model, price_provider_id, price_model_id
    from {{ ref('int_model_refs_resolved') }}

),

conditions as (

    select * from {{ ref('int_price_conditions_unioned') }}

),

prices as (

    select * from {{ ref('int_prices_unioned') }}

),

price_book as (

    select price_book_version from {{ ref('int_price_book_version') }}

),

-- The conditions each distinct producer pair may use, ranked by how specific the match is.
pair_conditions as (

    select
        refs.provider,
        refs.model,
        conditions.price_source,
        conditions.provider_id as condition_provider_id,
        conditions.model_id as condition_model_id,
        conditions.price_index,
        conditions.starts_on,
        conditions.active_from_time,
        conditions.active_until_time,
        case
            when conditions.price_source = 'genai-prices' then 1
            when conditions.provider_id = refs.provider and conditions.model_id = refs.model
                then 3
            else 2
        end as match_rank
    from refs
    inner join conditions
        on (
            conditions.provider_id = refs.price_provider_id
            and conditions.model_id = refs.price_model_id
        )
        or (
            conditions.price_source = 'override'
            and conditions.provider_id = refs.provider
            and conditions.model_id = refs.model
        )

),

-- Every condition active for a call, ranked twice: among all (the winner) and among
-- genai-prices' own (what an override that leaves a price key out inherits).
call_candidates as (

    select
        calls.*,
        refs.price_provider_id,
        refs.price_model_id,
        pair_conditions.price_source,
        pair_conditions.condition_provider_id,
        pair_conditions.condition_model_id,
        pair_conditions.price_index,
        row_number() over (
            partition by {{ tenant_key('model_call_id', 'calls') }}
            order by pair_conditions.match_rank desc nulls last, pair_conditions.price_index desc
        ) as win_rank,
        row_number() over (
            partition by {{ tenant_key('model_call_id', 'calls') }}, pair_conditions.price_source
            order by pair_conditions.price_index desc
        ) as source_rank
    from calls
    left join refs
        on calls.provider = refs.provider
        and calls.model = refs.model
    left join pair_conditions
        on calls.provider = pair_conditions.provider
        and calls.model = pair_conditions.model
        and (
            (
                (
                    pair_conditions.starts_on is null
                    or {{ pricing_utc_date('calls.occurred_at') }} >= pair_conditions.starts_on
                )
                and (
                    pair_conditions.active_from_time is null
                    or case
                        when pair_conditions.active_until_time < pair_conditions.active_from_time
                            then {{ pricing_utc_time('calls.occurred_at') }}
                                >= pair_conditions.active_from_time
                            or {{ pricing_utc_time('calls.occurred_at') }}
                                < pair_conditions.active_until_time
                        else {{ pricing_utc_time('calls.occurred_at') }}
                                >= pair_conditions.active_from_time
                            and {{ pricing_utc_time('calls.occurred_at') }}
                                < pair_conditions.active_until_time
                    end
                )
            )
            -- genai-prices falls back to its first conditional price when none is active
            or (pair_conditions.price_source = 'genai-prices' and pair_conditions.price_index = 0)
        )

),

-- One row per call: the winning condition (NULLs when the call has no price at all) and,
-- when an override wins, genai-prices' condition for the same call (NULLs when genai-prices
-- does not know the model).
call_conditions as (

    select
        winner.*,
        book.condition_provider_id as book_provider_id,
        book.condition_model_id as book_model_id,
        book.price_index as book_price_index
    from call_candidates as winner
    left join call_candidates as book
        on {{ tenant_key_match('model_call_id', 'winner', 'book') }}
        and winner.price_source = 'override'
        and book.price_source = 'genai-prices'
        and book.source_rank = 1
    where winner.win_rank = 1

),

-- Tiers are resolved on the price table, not per call: the tier starts of a conditional price
-- cut the input-token axis into bands (band_start, band_end], and in each band every counted
-- key has one price, that of its highest tier_start at or below band_start (the base, -1,
-- when no tier has started).
counted_prices as (

    select price_source, provider_id, model_id, price_index, price_key, tier_start, unit_price_usd
    from prices
    where price_key in (
        'input_mtok', 'output_mtok', 'cache_read_mtok', 'cache_write_mtok', 'requests_kcount'
    )

),

bands as (

    select
        price_source,
        provider_id,
        model_id,
        price_index,
        band_start,
        lead(band_start) over (
            partition by price_source, provider_id, model_id, price_index order by band_start
        ) as band_end
    from (
        select distinct price_source, provider_id, model_id, price_index, tier_start as band_start
        from counted_prices
    ) as starts

),

band_key_prices as (

    select
        bands.price_source,
        bands.provider_id,
        bands.model_id,
        bands.price_index,
        bands.band_start,
        bands.band_end,
        counted_prices.price_key,
        counted_prices.unit_price_usd
    from bands
    inner join counted_prices
        on bands.price_source = counted_prices.price_source
        and bands.provider_id = counted_prices.provider_id
        and bands.model_id = counted_prices.model_id
        and bands.price_index = counted_prices.price_index
        and counted_prices.tier_start <= bands.band_start
    qualify row_number() over (
        partition by
            bands.price_source, bands.provider_id, bands.model_id, bands.price_index,
            bands.band_start, counted_prices.price_key
        order by counted_prices.tier_start desc
    ) = 1

),

band_prices as (

    select
        price_source,
        provider_id,
        model_id,
        price_index,
        band_start,
        band_end,
        max(case when price_key = 'input_mtok' then unit_price_usd end) as input_token_usd,
        max(case when price_key = 'output_mtok' then unit_price_usd end) as output_token_usd,
        max(case when price_key = 'cache_read_mtok' then unit_price_usd end)
            as cache_read_token_usd,
        max(case when price_key = 'cache_write_mtok' then unit_price_usd end)
            as cache_write_token_usd,
        max(case when price_key = 'requests_kcount' then unit_price_usd end) as request_usd
    from band_key_prices
    group by price_source, provider_id, model_id, price_index, band_start, band_end

),

-- Each call's price of one unit per key: the winning condition's, and for a key an override
-- leaves out, genai-prices' price of the same call (its tier band included).
call_prices as (

    select
        call_conditions.*,
        coalesce(own.input_token_usd, inherited.input_token_usd) as input_token_usd,
        coalesce(own.output_token_usd, inherited.output_token_usd) as output_token_usd,
        coalesce(own.cache_read_token_usd, inherited.cache_read_token_usd)
            as cache_read_token_usd,
        coalesce(own.cache_write_token_usd, inherited.cache_write_token_usd)
            as cache_write_token_usd,
        coalesce(own.request_usd, inherited.request_usd) as request_usd
    from call_conditions
    -- a tier applies once input tokens EXCEED its start: input in (band_start, band_end]
    left join band_prices as own
        on call_conditions.price_source = own.price_source
        and call_conditions.condition_provider_id = own.provider_id
        and call_conditions.condition_model_id = own.model_id
        and call_conditions.price_index = own.price_index
        and call_conditions.input_tokens > own.band_start
        and (own.band_end is null or call_conditions.input_tokens <= own.band_end)
    left join band_prices as inherited
        on inherited.price_source = 'genai-prices'
        and call_conditions.book_provider_id = inherited.provider_id
        and call_conditions.book_model_id = inherited.model_id
        and call_conditions.book_price_index = inherited.price_index
        and call_conditions.input_tokens > inherited.band_start
        and (inherited.band_end is null or call_conditions.input_tokens <= inherited.band_end)

),

costed as (

    select
        tenant_id,
        model_call_id,
        price_provider_id,
        price_model_id,
        price_source,
        loaded_at,
        case
            when price_source is not null then
                -- input tokens not priced as cache reads or writes
                coalesce(
                    (
                        input_tokens
                        - case
                            when cache_read_token_usd is not null then cached_tokens
                            else 0
                        end
                        - case
                            when cache_write_token_usd is not null then cache_write_tokens
                            else 0
                        end
                    ) * input_token_usd,
                    cast(0 as decimal(38, 24))
                )
                + coalesce(output_tokens * output_token_usd, cast(0 as decimal(38, 24)))
                + coalesce(cached_tokens * cache_read_token_usd, cast(0 as decimal(38, 24)))
                + coalesce(
                    cache_write_tokens * cache_write_token_usd, cast(0 as decimal(38, 24))
                )
                + coalesce(request_usd, cast(0 as decimal(38, 24)))
        end as cost_usd
    from call_prices

)

select
    costed.tenant_id,
    costed.model_call_id,
    costed.price_provider_id,
    costed.price_model_id,
    case when costed.price_source is null then 'unpriced' else 'priced' end as price_status,
    cast(costed.cost_usd as decimal(38, 24)) as cost_usd,
    price_book.price_book_version,
    costed.price_source,
    costed.loaded_at,
    {{ build_stamp() }} as built_at
from costed
cross join price_book
