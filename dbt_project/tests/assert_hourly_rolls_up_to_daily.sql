{#- agg_usage_hourly and agg_usage_daily bucket the same activity: summed per day and
    dimensions, their additive measures are equal. Returns the disagreeing groups. -#}

{%- set measures = [
    'runs', 'model_calls', 'failed_model_calls', 'failures', 'tool_calls', 'input_tokens',
    'output_tokens', 'cached_tokens', 'cache_write_tokens', 'reasoning_tokens', 'total_tokens',
    'unpriced_calls',
] -%}
{%- set dims = [
    'usage_date', 'tenant_id', 'workspace_id', 'project_id', 'agent_id', 'workflow_id',
    'provider', 'model',
] -%}

with

hourly as (

    select
        {{ surrogate_key(dims) }} as group_key,
        {% for m in measures %}sum({{ m }}) as {{ m }},{% endfor %}
        coalesce(sum(cost_usd), 0) as cost_usd
    from {{ ref('agg_usage_hourly') }}
    group by all

),

daily as (

    select
        {{ surrogate_key(dims) }} as group_key,
        {% for m in measures %}sum({{ m }}) as {{ m }},{% endfor %}
        coalesce(sum(cost_usd), 0) as cost_usd
    from {{ ref('agg_usage_daily') }}
    group by all

)

select *
from hourly
full outer join daily
    on hourly.group_key = daily.group_key
where hourly.group_key is null or daily.group_key is null
    {% for m in measures %}or hourly.{{ m }} <> daily.{{ m }} {% endfor %}
    or hourly.cost_usd <> daily.cost_usd
