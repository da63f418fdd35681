{#- One row per budget and each (workspace, project, agent) of its tenant that the budget's
    scope covers, among those any event of the tenant ever named: the one place a budget's
    scope (tenant, workspace, project or agent, and an id within the tenant) is resolved.
    budget_status sums the spend of these combinations, and the dashboard shows a budget
    under the filters that leave one of them. A budget whose scope no event named has no row
    (budget_status.is_scope_seen is false). -#}

with

budgets as (

    select budget_id, tenant_id, scope, scope_id
    from {{ ref('stg_reference__budgets') }}

),

-- Every combination of names a tenant's events used, all time.
event_dims as (

    select distinct tenant_id, workspace_id, project_id, agent_id
    from {{ ref('fct_events') }}

),

final as (

    select
        budgets.budget_id,
        budgets.tenant_id,
        budgets.scope,
        budgets.scope_id,
        event_dims.workspace_id,
        event_dims.project_id,
        event_dims.agent_id

    from budgets
    inner join event_dims
        on budgets.tenant_id = event_dims.tenant_id
        and budgets.scope_id = case budgets.scope
            when 'tenant' then event_dims.tenant_id
            when 'workspace' then event_dims.workspace_id
            when 'project' then event_dims.project_id
            when 'agent' then event_dims.agent_id
        end

)

select * from final
