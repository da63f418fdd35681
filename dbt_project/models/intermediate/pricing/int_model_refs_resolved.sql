{#- One row per distinct (provider, model) pair of the model-call events (read from
    stg_lake__events, which stg_lake__model_calls filters: this model then runs beside that one
    instead of after it, off the build's longest chain), with genai-prices' resolution of it.

    The resolution itself happens before dbt, in Python (ingestion/reference/model_refs.py, reference
    data `reference.model_refs`): genai-prices' own resolver, which SQL would only imitate.
    Every build resolves the pairs of the loads it reads first, so a pair without a row there
    is a build that skipped that step: genai_prices_version is then NULL, its not_null test
    fails the build, and nothing is priced as unknown that was never asked. -#}
{{ config(materialized='table') }}

with

pairs as (

    select distinct provider, model
    from {{ ref('stg_lake__events') }}
    where event_type in ('model_call.completed', 'model_call.failed')

),

refs as (

    select provider, model, price_provider_id, price_model_id, genai_prices_version
    from {{ reference_model_refs(source('reference', 'model_refs')) }}

)

select
    pairs.provider,
    pairs.model,
    refs.price_provider_id,
    refs.price_model_id,
    refs.genai_prices_version
from pairs
left join refs
    on pairs.provider is not distinct from refs.provider
    and pairs.model is not distinct from refs.model
