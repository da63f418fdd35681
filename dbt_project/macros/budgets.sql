{#- Budget period arithmetic, in UTC.

    `budget_as_of()` is the instant budget_status is computed for: wall-clock now at build
    time (current_timestamp), unless the var `budget_as_of` (an ISO timestamp) pins it, as
    the unit tests and a replay of history do. -#}

{% macro budget_as_of() -%}
    {%- if var('budget_as_of', none) -%}
        cast('{{ var("budget_as_of") }}' as {{ type_timestamptz() }})
    {%- else -%}
        current_timestamp
    {%- endif -%}
{%- endmacro %}

{#- How long a budget period stays open for late spend after its end, in hours: the var
    `budget_close_grace_hours`, else $AGENTOPS_BUDGET_CLOSE_GRACE, else 1 (the default
    ingestion/settings.py gives the alerts too). A period is closed from period_end + grace. -#}
{% macro budget_close_grace_hours() -%}
    {%- set raw = var('budget_close_grace_hours', env_var('AGENTOPS_BUDGET_CLOSE_GRACE', '') or '1') -%}
    {%- set hours = raw | string | trim | float(-1) -%}
    {%- if hours < 0 -%}
        {{ exceptions.raise_compiler_error(
            "budget_close_grace_hours / AGENTOPS_BUDGET_CLOSE_GRACE = '" ~ raw
            ~ "' is not a number of hours >= 0; write e.g. 1 or 0.25") }}
    {%- endif -%}
    {{ return(hours) }}
{%- endmacro %}

{#- When a period that ends at `period_end` closes: its end plus the close grace, so that late
    events of the period still count before its figures freeze. The one definition of the
    close: budget_status and fct_budget_periods compute `closes_at` with it, and whatever else
    needs to know whether a period is closed (alerts, the dashboard) reads those columns. -#}
{% macro budget_closes_at(period_end) -%}
    {{ dbt.dateadd('second', (budget_close_grace_hours() * 3600) | int, period_end) }}
{%- endmacro %}

{#- Start of the UTC period (daily, weekly from Monday, monthly) containing `ts`,
    `offset` periods later (-1: the previous one). -#}
{% macro budget_period_start(period, ts, offset=0) -%}
    {{ return(adapter.dispatch('budget_period_start', 'agentops_warehouse')(period, ts, offset)) }}
{%- endmacro %}

{% macro duckdb__budget_period_start(period, ts, offset=0) -%}
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

{#- Spark's date_trunc('WEEK') starts weeks on Monday, as DuckDB's does. -#}
{% macro spark__budget_period_start(period, ts, offset=0) -%}
    case {{ period }}
        when 'daily' then timestampadd(DAY, {{ offset }}, date_trunc('DAY', {{ ts }}))
        when 'weekly' then timestampadd(DAY, 7 * ({{ offset }}), date_trunc('WEEK', {{ ts }}))
        when 'monthly' then timestampadd(MONTH, {{ offset }}, date_trunc('MONTH', {{ ts }}))
    end
{%- endmacro %}

{#- Alert dedupe keys. Budget and alert ids are chosen by producers, and two tenants may use
    the same ones, so every key names the tenant: '<kind>:<tenant>:...', the tenant id with
    '%' and ':' percent-encoded so that it ends at the first ':'. orchestration/alerts/keys.py
    builds the same keys in Python (a test holds the two forms equal). -#}
{% macro alert_key_tenant(tenant_id) -%}
    replace(replace({{ tenant_id }}, '%', '%25'), ':', '%3A')
{%- endmacro %}

{#- The dedupe key of a budget alert: one alert per tenant, budget, period and threshold,
    however many budget.threshold_hit events or sensor ticks report it. The orchestration
    layer writes the same key into the outbox (budget_status.alert_dedupe_key gives it
    ready-made). -#}
{% macro budget_alert_dedupe_key(tenant_id, budget_id, period_start, threshold_pct) -%}
    concat_ws(':',
        'budget',
        {{ alert_key_tenant(tenant_id) }},
        {{ budget_id }},
        {{ utc_iso_text(period_start) }},
        case
            when {{ threshold_pct }} = floor({{ threshold_pct }})
                then cast(cast({{ threshold_pct }} as bigint) as {{ dbt.type_string() }})
            else cast({{ threshold_pct }} as {{ dbt.type_string() }})
        end
    )
{%- endmacro %}

{#- The dedupe key of an alert that an `alert.emitted` event reports: alert ids are the
    producer's, so the key names the tenant too. -#}
{% macro emitted_alert_dedupe_key(tenant_id, alert_id) -%}
    concat_ws(':', 'alert', {{ alert_key_tenant(tenant_id) }}, {{ alert_id }})
{%- endmacro %}

{#- The budgets of the reference data (source `reference.budgets`, written by every build
    from the budgets file): the source when its file exists, else no budgets. Columns as
    REFERENCE_SCHEMA in ingestion/reference/budgets.py. -#}
{% macro reference_budgets(source_relation) -%}
    {{ return(adapter.dispatch('reference_budgets', 'agentops_warehouse')(source_relation)) }}
{%- endmacro %}

{% macro default__reference_budgets(source_relation) -%}
    {%- set s = dbt.type_string() -%}
    {%- set path = data_dir() ~ '/reference/budgets.parquet' -%}
    {%- if lake_has_files(path) -%}
    {{ data_source(source_relation, path) }}
    {%- else -%}
    (
        select
            cast(null as {{ s }}) as budget_id,
            cast(null as {{ s }}) as tenant_id,
            cast(null as {{ s }}) as scope,
            cast(null as {{ s }}) as scope_id,
            cast(null as {{ s }}) as period,
            cast(null as decimal(38, 24)) as limit_usd,
            cast(null as {{ type_array('integer') }}) as thresholds,
            cast(null as {{ s }}) as enforcement,
            cast(null as {{ s }}) as destination,
            cast(null as bigint) as source_line
        where false
    )
    {%- endif -%}
{%- endmacro %}

