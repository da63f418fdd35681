{#- Every model call is counted in exactly one run, and the runs' tokens and cost add up to the
    model calls' totals. Returns a row when they disagree. -#}

with

runs as (

    select
        sum(model_calls) as model_calls,
        sum(input_tokens) as input_tokens,
        sum(output_tokens) as output_tokens,
        coalesce(sum(cost_usd), 0) as cost_usd
    from {{ ref('fct_runs') }}

),

calls as (

    select
        count(*) as model_calls,
        coalesce(sum(input_tokens), 0) as input_tokens,
        coalesce(sum(output_tokens), 0) as output_tokens,
        coalesce(sum(cost_usd), 0) as cost_usd
    from {{ ref('fct_model_calls') }}

)

select runs.*, calls.*
from runs
cross join calls
where runs.model_calls <> calls.model_calls
    or runs.input_tokens <> calls.input_tokens
    or runs.output_tokens <> calls.output_tokens
    or runs.cost_usd <> calls.cost_usd
