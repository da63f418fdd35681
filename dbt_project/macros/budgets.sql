{#- Budget period arithmetic, in UTC (DuckDB SQL; dispatch for another adapter).

    `budget_as_of()` is the instant budget_status is computed for: wall-clock now at build
    time (current_timestamp), unless the var `budget_as_of` (an ISO timestamp) pins it, as
    the unit tests and a replay of history do. -#}

{% macro budget_as_of() -%}
    {%- if var('budget_as_of', none) -%}
        cast('{{ var("budget_as_of") }}' as timestamptz)
    {%- else -%}
        current_timestamp
    {%- endif -%}
{%- endmacro %}

{#- Start of the UTC period (daily, weekly from Monday, monthly) containing `ts`,
    `offset` periods later (-1: the previous one). -#}
{% macro budget_period_start(period, ts, offset=0) -%}
    {{ return(adapter.dispatch('budget_period_start', 'agentops_warehouse')(period, ts, offset)) }}
{%- endmacro %}

{% macro default__budget_period_start(period, ts, offset=0) -%}
    timezone('UTC',
        case {{ period }}
            when 'daily' then date_trunc('day', timezone('UTC', {{ ts }}))
                + to_days(({{ offset }}))
            when 'weekly' then date_trunc('week', timezone('UTC', {{ ts }}))
                + to_days(7 * ({{ offset }}))
            when 'monthly' then date_trunc('month', timezone('UTC', {{ ts }}))
                + to_months(({{ offset }}))
        end
    )
{%- endmacro %}

{#- The dedupe key of a budget alert: one alert per budget, period and threshold, however many
    budget.threshold_hit events or sensor ticks report it. The orchestration layer writes
    the same key into the outbox (budget_status.alert_dedupe_key gives it ready-made). -#}
{% macro budget_alert_dedupe_key(budget_id, period_start, threshold_pct) -%}
    concat_ws(':',
        'budget',
        {{ budget_id }},
        strftime(timezone('UTC', {{ period_start }}), '%Y-%m-%dT%H:%M:%SZ'),
        case
            when {{ threshold_pct }} = floor({{ threshold_pct }})
                then cast(cast({{ threshold_pct }} as bigint) as varchar)
            else cast({{ threshold_pct }} as varchar)
        end
    )
{%- endmacro %}
