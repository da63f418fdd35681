{#- One row per event that reuses, within its tenant, an id another event already claimed:
    - a model call event whose model_call_id was kept from an earlier loaded event
      (stg_lake__model_calls keeps the first; this one is never priced), and
    - a run.completed event for a run that already has an earlier loaded run.completed.
    "Earlier loaded" is the order loaded_at, load_id, source_file, source_line, the same on
    every engine. The event itself stays in stg_lake__events and fct_events; this lists it
    beside the event that won, so a producer's id bug is seen, never silently dropped from
    cost. Ids of other tenants never conflict (macros/keys.sql).

    Incremental: a build checks the events staging wrote since this model last wrote. -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
    )
}}

{%- set event_columns = [
    'tenant_id', 'event_id', 'event_type', 'occurred_at', 'event_hash', 'workspace_id',
    'project_id', 'run_id', 'agent_id', 'provider', 'model', 'loaded_at', 'load_id',
    'source_file', 'source_line',
] %}

with

new_events as (

    select *
    from {{ ref('stg_lake__events') }}
    where event_type in ('model_call.completed', 'model_call.failed', 'run.completed')
    {% if is_incremental() %}
        and built_at > {{ last_built_at() }}
    {% endif %}

),

-- A model call event that is not the one stg_lake__model_calls kept for its call.
losing_calls as (

    select
        'model_call' as id_kind,
        new_events.model_call_id as conflicting_id,
        new_events.*
    from new_events
    where new_events.model_call_id is not null
        and not exists (
            select 1 from {{ ref('stg_lake__model_calls') }} as kept
            where {{ tenant_key_match('event_id', 'kept', 'new_events') }}
        )

),

call_winners as (

    select
        {{ tenant_key('model_call_id', 'kept') }},
        kept.event_id as winning_event_id,
        kept.occurred_at as winning_occurred_at,
        kept.loaded_at as winning_loaded_at
    from {{ ref('stg_lake__model_calls') }} as kept
    where {{ tenant_key_in('model_call_id', 'losing_calls', 'kept') }}

),

new_completions as (

    select {{ tenant_key('run_id') }}
    from new_events
    where event_type = 'run.completed'

),

-- Every run.completed of the runs that got a new one, ranked in load order.
ranked_completions as (

    select
        *,
        row_number() over (
            partition by {{ tenant_key('run_id') }}
            order by loaded_at, load_id, source_file, source_line
        ) as completion_no
    from {{ ref('stg_lake__events') }}
    where event_type = 'run.completed'
        and {{ tenant_key_in('run_id', 'new_completions') }}

),

losing_completions as (

    select
        'run' as id_kind,
        losers.run_id as conflicting_id,
        {% for c in event_columns %}losers.{{ c }}, {% endfor %}
        winners.event_id as winning_event_id,
        winners.occurred_at as winning_occurred_at,
        winners.loaded_at as winning_loaded_at
    from ranked_completions as losers
    inner join ranked_completions as winners
        on {{ tenant_key_match('run_id', 'losers', 'winners') }}
        and winners.completion_no = 1
    where losers.completion_no > 1
        and exists (
            select 1 from new_events
            where {{ tenant_key_match('event_id', 'new_events', 'losers') }}
        )

),

call_conflicts as (

    select
        losing_calls.id_kind,
        losing_calls.conflicting_id,
        {% for c in event_columns %}losing_calls.{{ c }}, {% endfor %}
        call_winners.winning_event_id,
        call_winners.winning_occurred_at,
        call_winners.winning_loaded_at
    from losing_calls
    inner join call_winners
        on {{ tenant_key_match('model_call_id', 'losing_calls', 'call_winners') }}

),

-- Same columns in the same order on both sides: the kind, the id, the event's own
-- columns (event_columns), then the winner's.
conflicts as (

    select * from call_conflicts
    union all
    select * from losing_completions

),

final as (

    select
        tenant_id,
        id_kind,
        conflicting_id,
        event_id,
        event_type,
        occurred_at,
        event_hash,
        workspace_id,
        project_id,
        run_id,
        agent_id,
        provider,
        model,
        winning_event_id,
        winning_occurred_at,
        loaded_at,
        winning_loaded_at,
        load_id,
        source_file,
        source_line,
        {{ build_stamp() }} as built_at
    from conflicts

)

select * from final
