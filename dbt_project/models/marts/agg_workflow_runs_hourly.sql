{#- One row per UTC hour of run start x tenant, workspace, project, agent, workflow: how the
    runs started in that hour ended (a workflow's health) and what they cost, including the
    spend that bought nothing (its economics): all of a failed or cancelled run's cost, and
    the failed model calls of the other runs, retried or not. Every measure adds up over any
    set of hours and dimensions; rates and costs per success are ratios of those sums (cost per
    successful run: succeeded_spend_usd / succeeded_runs, so running runs are not in it).

    A table, recomputed from fct_runs by every build: a run's status changes until it ends. -#}

with

runs as (

    select
        tenant_id,
        run_id,
        workspace_id,
        project_id,
        agent_id,
        workflow_id,
        {{ utc_hour('started_at') }} as hour_start,
        run_status,
        is_ended,
        failed_model_calls,
        cost_usd
    from {{ ref('fct_runs') }}

),

failed_call_cost as (

    select
        {{ tenant_key('run_id') }},
        sum(cost_usd) as cost_usd
    from {{ ref('fct_model_calls') }}
    where is_failed
    group by {{ tenant_key('run_id') }}

),

runs_costed as (

    select
        runs.*,
        runs.run_status in ('failed', 'cancelled') as is_lost,
        failed_call_cost.cost_usd as failed_call_cost_usd
    from runs
    left join failed_call_cost
        on {{ tenant_key_match('run_id', 'runs', 'failed_call_cost') }}

),

rolled_up as (

    select
        hour_start,
        tenant_id,
        workspace_id,
        project_id,
        agent_id,
        workflow_id,
        count(*) as runs,
        count(*) filter (where is_ended) as ended_runs,
        count(*) filter (where run_status = 'succeeded') as succeeded_runs,
        count(*) filter (where run_status = 'failed') as failed_runs,
        count(*) filter (where run_status = 'cancelled') as cancelled_runs,
        count(*) filter (where run_status = 'running') as running_runs,
        cast(sum(failed_model_calls) as bigint) as failed_model_calls,
        sum(cost_usd) as spend_usd,
        coalesce(sum(cost_usd) filter (where run_status = 'succeeded'), 0)
            as succeeded_spend_usd,
        coalesce(sum(cost_usd) filter (where is_lost), 0) as failed_run_spend_usd,
        coalesce(sum(failed_call_cost_usd) filter (where not is_lost), 0)
            as failed_call_spend_usd

    from runs_costed
    group by all

),

final as (

    select
        {{ surrogate_key([
            utc_seconds_text('hour_start'), 'tenant_id', 'workspace_id', 'project_id', 'agent_id', 'workflow_id',
        ]) }} as workflow_bucket_id,
        hour_start,
        tenant_id,
        workspace_id,
        project_id,
        agent_id,
        workflow_id,
        runs,
        ended_runs,
        succeeded_runs,
        failed_runs,
        cancelled_runs,
        running_runs,
        failed_model_calls,
        cast(spend_usd as decimal(38, 24)) as spend_usd,
        cast(succeeded_spend_usd as decimal(38, 24)) as succeeded_spend_usd,
        cast(failed_run_spend_usd as decimal(38, 24)) as failed_run_spend_usd,
        cast(failed_call_spend_usd as decimal(38, 24)) as failed_call_spend_usd,
        cast(failed_run_spend_usd + failed_call_spend_usd as decimal(38, 24))
            as wasted_spend_usd

    from rolled_up

)

select * from final
