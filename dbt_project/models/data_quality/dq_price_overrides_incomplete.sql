{#- One row per override version (provider_id, model_id, valid_from of price_overrides) and
    token price key it leaves out that genai-prices cannot supply either. An override that
    names only some keys inherits the others from genai-prices' prices of the same model (the
    model it names, or the one its producer strings resolve to); for a model genai-prices does
    not know, a missing input_mtok or output_mtok would price those tokens at nothing, so the
    calls' cost lacks them. tests/warn_price_overrides_incomplete.sql makes the build warn;
    the Cost page lists these rows. -#}

with

override_rows as (

    select
        {{ normalised_name('provider_id') }} as provider_id,
        {{ normalised_name('model_id') }} as model_id,
        valid_from,
        price_key
    from {{ ref('price_overrides') }}

),

versions as (

    select distinct provider_id, model_id, valid_from from override_rows

),

book_keys as (

    select distinct provider_id, model_id, price_key from {{ ref('price_book_prices') }}

),

refs as (

    select provider, model, price_provider_id, price_model_id
    from {{ ref('int_model_refs_resolved') }}
    where price_model_id is not null

),

-- The genai-prices model each version inherits from: itself when genai-prices lists it,
-- else the model its producer strings resolve to.
fallbacks as (

    select versions.provider_id, versions.model_id, versions.provider_id as book_provider_id,
        versions.model_id as book_model_id
    from versions
    union
    select versions.provider_id, versions.model_id, refs.price_provider_id, refs.price_model_id
    from versions
    inner join refs
        on versions.provider_id = refs.provider
        and versions.model_id = refs.model

),

required_keys as (

    select 'input_mtok' as price_key
    union all
    select 'output_mtok' as price_key

),

named_keys as (

    select distinct provider_id, model_id, valid_from, price_key from override_rows

),

-- The keys genai-prices can lend each override (any conditional price of its model).
inheritable_keys as (

    select distinct fallbacks.provider_id, fallbacks.model_id, book_keys.price_key
    from fallbacks
    inner join book_keys
        on fallbacks.book_provider_id = book_keys.provider_id
        and fallbacks.book_model_id = book_keys.model_id

)

-- Anti-joins rather than correlated NOT EXISTS: Spark takes these as they are.
select
    versions.provider_id,
    versions.model_id,
    versions.valid_from,
    required_keys.price_key as missing_price_key
from versions
cross join required_keys
left join named_keys
    on versions.provider_id = named_keys.provider_id
    and versions.model_id = named_keys.model_id
    and versions.valid_from is not distinct from named_keys.valid_from
    and required_keys.price_key = named_keys.price_key
left join inheritable_keys
    on versions.provider_id = inheritable_keys.provider_id
    and versions.model_id = inheritable_keys.model_id
    and required_keys.price_key = inheritable_keys.price_key
where named_keys.price_key is null and inheritable_keys.price_key is null
