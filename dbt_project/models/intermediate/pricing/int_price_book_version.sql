{#- One row: the price book's version, named after the genai-prices release the seeds were
    exported from plus the first 12 hex digits of a SHA-256 of the overrides seed's rows
    ("none" when it is empty), e.g. genai-prices-0.2.3+none. Computed from the seeds'
    contents, so editing an override changes the version with no Python involved. -#}

with

source as (

    select package_version from {{ ref('price_book_source') }}

),

overrides as (

    select
        concat_ws(
            '|',
            provider_id,
            model_id,
            coalesce(cast(valid_from as {{ dbt.type_string() }}), ''),
            price_key,
            coalesce(cast(tier_start as {{ dbt.type_string() }}), ''),
            cast(price_usd as {{ dbt.type_string() }})
        ) as override_line
    from {{ ref('price_overrides') }}

),

overrides_hashed as (

    select left({{ pricing_sha256(pricing_sorted_lines('override_line')) }}, 12) as overrides_hash
    from overrides

)

select
    'genai-prices-' || source.package_version || '+'
    || coalesce(overrides_hashed.overrides_hash, 'none') as price_book_version
from source
cross join overrides_hashed
