{#- One row per conditional price, price key and tier, with the exact USD price of one unit
    (DECIMAL(38, 24)): the genai-prices book as exported, and the overrides converted from
    USD per million tokens (per thousand calls) by multiplying with an exact DECIMAL constant,
    never dividing. `tier_start` is -1 for the base price. -#}

with

book as (

    select
        'genai-prices' as price_source,
        provider_id,
        model_id,
        price_index,
        price_key,
        tier_start,
        unit_price_usd
    from {{ ref('price_book_prices') }}

),

override_rows as (

    select
        {{ normalised_name('provider_id') }} as provider_id,
        {{ normalised_name('model_id') }} as model_id,
        valid_from,
        price_key,
        coalesce(tier_start, -1) as tier_start,
        price_usd
    from {{ ref('price_overrides') }}

),

override_conditions as (

    select provider_id, model_id, starts_on, price_index
    from {{ ref('int_price_conditions_unioned') }}
    where price_source = 'override'

),

overrides as (

    select
        'override' as price_source,
        override_rows.provider_id,
        override_rows.model_id,
        override_conditions.price_index,
        override_rows.price_key,
        override_rows.tier_start,
        cast(
            override_rows.price_usd
            * case
                when right(override_rows.price_key, 5) = '_mtok' then 0.000001
                when right(override_rows.price_key, 7) = '_kcount' then 0.001
            end
            as decimal(38, 24)
        ) as unit_price_usd
    from override_rows
    inner join override_conditions
        on override_rows.provider_id = override_conditions.provider_id
        and override_rows.model_id = override_conditions.model_id
        and override_rows.valid_from is not distinct from override_conditions.starts_on

)

select * from book
union all
select * from overrides
