with

source as (

    select * from {{ ref('stg_lake__events') }}
    where event_type = 'policy.decision'

),

renamed as (

    select
        event_id,
        policy_id,
        policy_decision as decision,
        policy_rule as rule,
        policy_reason as reason,
        policy_actor_type as actor_type,
        policy_actor_id as actor_id,
        run_id,
        tenant_id,
        workspace_id,
        project_id,
        agent_id,
        workflow_id,
        trace_id,
        span_id,
        parent_span_id,
        occurred_at,
        loaded_at,
        built_at

    from source

)

select * from renamed
