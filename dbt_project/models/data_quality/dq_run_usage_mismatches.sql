{#- One row per ended run whose reported roll-up usage (resource_usage of its run.completed or
    run.failed event) disagrees with the sum of its model calls. A token kind the roll-up
    leaves out is not compared (the contract makes cached, cache-write and reasoning
    tokens optional). -#}

with

runs as (

    select * from {{ ref('fct_runs') }}
    where reported_input_tokens is not null

),

compared as (

    select
        run_id,
        tenant_id,
        workspace_id,
        project_id,
        agent_id,
        workflow_id,
        run_status,
        model_calls,
        reported_input_tokens,
        input_tokens as summed_input_tokens,
        reported_output_tokens,
        output_tokens as summed_output_tokens,
        reported_cached_tokens,
        cached_tokens as summed_cached_tokens,
        reported_cache_write_tokens,
        cache_write_tokens as summed_cache_write_tokens,
        reported_reasoning_tokens,
        reasoning_tokens as summed_reasoning_tokens,
        reported_total_tokens,
        total_tokens as summed_total_tokens,
        {{ list_where(list_of([
            "case when reported_input_tokens <> input_tokens then 'input_tokens' end",
            "case when reported_output_tokens <> output_tokens then 'output_tokens' end",
            "case when reported_cached_tokens <> cached_tokens then 'cached_tokens' end",
            "case when reported_cache_write_tokens <> cache_write_tokens"
            ~ " then 'cache_write_tokens' end",
            "case when reported_reasoning_tokens <> reasoning_tokens then 'reasoning_tokens' end",
            "case when reported_total_tokens <> total_tokens then 'total_tokens' end",
        ]), 'k', 'k is not null') }} as mismatched_token_kinds,
        ended_at,
        last_loaded_at

    from runs

)

select * from compared
where {{ list_length('mismatched_token_kinds') }} > 0
