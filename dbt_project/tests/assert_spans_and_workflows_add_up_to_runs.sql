{#- The dashboard's marts account for every run and model call once: the spans of all runs
    hold every model call of fct_model_calls (tokens and cost included), and the workflow
    hours every run of fct_runs with its cost. Returns a row when they disagree. -#}

with

calls as (

    select
        count(*) as model_calls,
        coalesce(sum(total_tokens), 0) as total_tokens,
        coalesce(sum(cost_usd), 0) as cost_usd
    from {{ ref('fct_model_calls') }}

),

spans as (

    select
        coalesce(sum(model_calls), 0) as model_calls,
        coalesce(sum(total_tokens), 0) as total_tokens,
        coalesce(sum(cost_usd), 0) as cost_usd
    from {{ ref('fct_spans') }}

),

runs as (

    select count(*) as runs, coalesce(sum(cost_usd), 0) as cost_usd
    from {{ ref('fct_runs') }}

),

workflow_hours as (

    select coalesce(sum(runs), 0) as runs, coalesce(sum(spend_usd), 0) as cost_usd
    from {{ ref('agg_workflow_runs_hourly') }}

)

select
    calls.model_calls as call_count,
    spans.model_calls as span_call_count,
    calls.cost_usd as call_cost_usd,
    spans.cost_usd as span_cost_usd,
    runs.runs as run_count,
    workflow_hours.runs as workflow_run_count,
    runs.cost_usd as run_cost_usd,
    workflow_hours.cost_usd as workflow_cost_usd
from calls
cross join spans
cross join runs
cross join workflow_hours
where calls.model_calls <> spans.model_calls
    or calls.total_tokens <> spans.total_tokens
    or calls.cost_usd <> spans.cost_usd
    or runs.runs <> workflow_hours.runs
    or runs.cost_usd <> workflow_hours.cost_usd
