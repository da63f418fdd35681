{#- One row per run of a tenant whose run events came from OpenTelemetry spans (POST /v1/traces,
    ingestion/otlp/mapping.py: the run id is the trace id), keyed (tenant_id, run_id).

    Exporters send a trace's children before its parent, often in separate requests, and many
    instrumentations send lone `chat` spans: each span's events carry the span's own agent
    (`gen_ai.agent.*`, else `service.name`) and say which in the attribute `agent_source`. The
    agent of the run is the trace's agent span (the outermost `invoke_agent`/`create_agent`
    span: its run.started is the earliest) once it has arrived; fct_runs and fct_model_calls
    take it from here. `is_rollup_unreported`: the span that ended the run reported no usage,
    so its roll-up (zeros the contract requires) is not a roll-up. -#}

with

source as (

    select
        tenant_id,
        run_id,
        event_type,
        agent_id,
        occurred_at,
        built_at,
        {{ json_string('attributes', 'agent_source') }} as agent_source,
        {{ json_string('attributes', 'usage_unreported') }} as usage_unreported
    from {{ ref('stg_lake__events') }}
    where event_type in ('run.started', 'run.completed', 'run.failed')
        and attributes is not null

),

resolved as (

    select
        tenant_id,
        run_id,
        min_by(agent_id, occurred_at)
            filter (where agent_source = 'agent_span' and event_type = 'run.started')
            as agent_id,
        coalesce(
            bool_or(usage_unreported = 'true') filter (where event_type <> 'run.started'),
            false
        ) as is_rollup_unreported,
        max(built_at) as built_at
    from source
    where agent_source is not null
    group by tenant_id, run_id

)

select * from resolved
