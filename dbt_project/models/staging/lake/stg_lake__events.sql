{#- One row per distinct (tenant_id, event_id), every section flattened: event ids are scoped
    by tenant (macros/keys.sql), so two tenants that send the same id keep both events. The
    first loaded copy wins
    (order: loaded_at, load_id, source_file, source_line); later copies, identical or
    conflicting, stay in the lake and are listed by dq_duplicate_events.

    Incremental (the staging folder's one exception to views: a view would re-rank the whole
    lake on every read). Each build reads only the loads stg_lake__loads registered since this
    model last wrote, by their ids, so DuckDB opens no other file; an event already kept
    from an earlier load is not inserted again. The dedupe finds losing copies on the key
    columns alone, so the wide rows are never sorted. -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='append_new_columns',
    )
}}

{%- set loads = ref('stg_lake__loads') -%}
{%- if is_incremental() -%}
    {%- set load_ids = query_values(
        "select load_id from " ~ loads ~ " where lake_rows > 0 and built_at > "
        ~ last_built_at()
    ) -%}
{%- else -%}
    {%- set load_ids = query_values("select load_id from " ~ loads ~ " where lake_rows > 0") -%}
{%- endif %}

with

-- Not materialized: the key-only CTEs below read just their columns of the new files, and
-- the wide rows are not copied into a CTE buffer first (measured: less time and memory).
source as {{ cte_not_materialized() }} (

    select * from {{ lake_events(source('lake', 'events'), load_ids) }}

),

renamed as (

    select
        event_id,
        event_version,
        event_type,
        occurred_at,
        {{ utc_date('occurred_at') }} as event_date,
        event_type like '%.failed' as is_failed,

        tenant.tenant_id,
        tenant.workspace_id,
        tenant.project_id,

        run.run_id,
        run.agent_id,
        run.workflow_id,
        run.status as run_status,
        run.started_at as run_started_at,
        run.ended_at as run_ended_at,

        trace.trace_id,
        trace.span_id,
        trace.parent_span_id,

        step.step_id,
        step.step_type,
        step.status as step_status,
        step.latency_ms as step_latency_ms,

        model_call.model_call_id,
        {{ normalised_name('model_call.provider') }} as provider,
        {{ normalised_name('model_call.model') }} as model,
        model_call.step_id as model_call_step_id,
        model_call.latency_ms as model_call_latency_ms,
        model_call.request_id,

        tool_call.tool_call_id,
        tool_call.tool_name,
        tool_call.step_id as tool_call_step_id,
        tool_call.latency_ms as tool_call_latency_ms,

        policy.policy_id,
        policy.decision as policy_decision,
        policy.rule as policy_rule,
        policy.reason as policy_reason,
        policy.actor.actor_type as policy_actor_type,
        policy.actor.actor_id as policy_actor_id,

        budget.budget_id,
        budget.scope as budget_scope,
        budget.scope_id as budget_scope_id,
        budget.period as budget_period,
        budget.period_start as budget_period_start,
        budget.limit_usd as budget_limit_usd,
        budget.threshold_pct as budget_threshold_pct,
        budget.spend_usd as budget_spend_usd,
        budget.enforcement as budget_enforcement,

        alert.alert_id,
        alert.alert_type,
        alert.threshold as alert_threshold,
        alert.current_value as alert_current_value,
        alert.destination as alert_destination,
        alert.sent_at as alert_sent_at,

        error.code as error_code,
        error.message as error_message,
        error.type as error_type,
        error.retryable as is_error_retryable,

        resource_usage.input_tokens,
        resource_usage.output_tokens,
        resource_usage.cached_tokens,
        resource_usage.cache_write_tokens,
        resource_usage.reasoning_tokens,
        resource_usage.total_tokens,

        cost.cost_usd as reported_cost_usd,
        cost.currency as reported_currency,
        cost.price_book_version as reported_price_book_version,

        attributes,
        event_hash,
        loaded_at,
        load_id,
        source_file,
        source_line,
        {{ build_stamp() }} as built_at

    from source

),

repeated_event_ids as (

    select tenant.tenant_id, event_id
    from source
    group by all
    having count(*) > 1

),

losing_copies as (

    select load_id, source_file, source_line
    from (select tenant.tenant_id, * from source) as copies
    where {{ tenant_key_in('event_id', 'repeated_event_ids') }}
    qualify row_number() over (
        partition by {{ tenant_key('event_id') }}
        order by loaded_at, load_id, source_file, source_line
    ) > 1

),

first_loaded as (

    select *
    from renamed
    where not exists (
        select 1 from losing_copies
        where losing_copies.load_id = renamed.load_id
            and losing_copies.source_file = renamed.source_file
            and losing_copies.source_line = renamed.source_line
    )

),

{% if is_incremental() %}
-- Events kept by earlier builds, cut down to those of these loads first: a semi-join on the
-- new keys instead of a hash table over every key of the table.
already_kept as (

    select {{ tenant_key('event_id') }}
    from {{ this }}
    where {{ tenant_key_in('event_id', 'first_loaded') }}

),
{% endif %}

final as (

    select * from first_loaded
    {% if is_incremental() %}
    where not exists (
        select 1 from already_kept
        where {{ tenant_key_match('event_id', 'already_kept', 'first_loaded') }}
    )
    {% endif %}

)

select * from final
