{#- One row per conditional price a call can be priced with: every entry of genai-prices'
    `ModelInfo.prices` (price_book_conditions) and every version of a negotiated rate
    (price_overrides rows of one provider_id, model_id and valid_from).

    `price_index` orders the conditions of one model: later wins among the active ones. For
    overrides it ranks valid_from (NULL, "always", first). Provider and model of overrides are
    normalised like stg_lake__model_calls so they compare with the producer's strings. -#}

with

book as (

    select
        'genai-prices' as price_source,
        provider_id,
        model_id,
        price_index,
        starts_on,
        active_from_time,
        active_until_time
    from {{ ref('price_book_conditions') }}

),

override_versions as (

    select distinct
        {{ normalised_name('provider_id') }} as provider_id,
        {{ normalised_name('model_id') }} as model_id,
        valid_from
    from {{ ref('price_overrides') }}

),

overrides as (

    select
        'override' as price_source,
        provider_id,
        model_id,
        cast(
            row_number() over (
                partition by provider_id, model_id order by valid_from nulls first
            ) - 1 as integer
        ) as price_index,
        valid_from as starts_on,
        cast(null as time) as active_from_time,
        cast(null as time) as active_until_time
    from override_versions

)

select * from book
union all
select * from overrides
