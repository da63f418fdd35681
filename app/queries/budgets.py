"""The Budgets page's queries: every budget's spend for its period under the sidebar filters
(marts.budget_status, marts.budget_scopes) and the alert history (marts.fct_alerts, with the
delivery state every delivery pass publishes: `$AGENTOPS_DATA_DIR/outbox/alerts/outbox.parquet`,
renamed into place like the warehouse, so "sent" is what was sent, not what the last build
saw)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app.filters import Filters
from app.queries import connection as db


@st.cache_data(ttl=db.WAREHOUSE_TTL, show_spinner=False)
def budgets(wh: db.Warehouse, f: Filters, period_kind: str = "current") -> pd.DataFrame:
    """Every budget's row for the current (or previous) period that concerns the filtered
    tenants, workspaces, projects and agents: a budget on one scope of its tenant (say a
    workspace) shows when the filters leave a combination it covers (marts.budget_scopes;
    another tenant's workspace of the same name does not count). Without dimension filters,
    every budget."""
    scoped, params = db.where(f, None, alias="scopes.")
    in_scope = "true"
    if f.dims():
        in_scope = f"""exists (
            select 1 from marts.budget_scopes as scopes
            where scopes.tenant_id = b.tenant_id and scopes.budget_id = b.budget_id
                and {scoped}
        )"""
    return db.query(
        wh,
        f"""
        select
            budget_id, tenant_id, scope, scope_id, period, period_start, period_end, as_of,
            limit_usd, spend_usd, pct_used, thresholds, thresholds_crossed,
            highest_threshold_crossed, is_over_limit, forecast_usd, is_forecast_over_limit,
            unpriced_calls, enforcement, destination, is_scope_seen, closes_at, is_closed
        from marts.budget_status as b
        where period_kind = ? and {in_scope}
        order by pct_used desc nulls last, tenant_id, budget_id
        """,
        [period_kind, *(params if f.dims() else [])],
    )


def outbox_snapshot() -> tuple[str, str] | None:
    """The published delivery state: (path, version for cache keys), or None before any."""
    path = db.data_dir() / "outbox" / "alerts" / "outbox.parquet"
    try:
        st_ = path.stat()
    except FileNotFoundError:
        return None
    return str(path), f"{st_.st_mtime_ns}:{st_.st_size}"


_FCT_ALERTS = """
    select
        dedupe_key, first_occurred_at, alert_type, tenant_id, workspace_id, project_id,
        agent_id, run_id, budget_id, threshold, current_value, destination, delivery_status,
        delivery_attempts, sent_at, delivery_error, event_count,
        cast(null as varchar) as route_note
    from marts.fct_alerts
"""

# What a delivery pass published wins over what the last build saw; an alert the build has
# not seen yet is listed from the snapshot alone.
_WITH_SNAPSHOT = """
    select
        coalesce(a.dedupe_key, s.dedupe_key) as dedupe_key,
        coalesce(a.first_occurred_at, s.created_at) as first_occurred_at,
        coalesce(a.alert_type, s.alert_type) as alert_type,
        coalesce(a.tenant_id, s.tenant_id) as tenant_id,
        a.workspace_id, a.project_id, a.agent_id, a.run_id,
        coalesce(a.budget_id, s.budget_id) as budget_id,
        a.threshold, a.current_value,
        coalesce(s.destination, a.destination) as destination,
        coalesce(lower(s.status), a.delivery_status) as delivery_status,
        coalesce(s.attempts, a.delivery_attempts) as delivery_attempts,
        coalesce(s.sent_at, a.sent_at) as sent_at,
        coalesce(s.error_message, a.delivery_error) as delivery_error,
        coalesce(a.event_count, 0) as event_count,
        s.route_note
    from marts.fct_alerts as a
    full outer join read_parquet(?, union_by_name = true) as s
        on a.dedupe_key = s.dedupe_key
"""


@st.cache_data(ttl=db.WAREHOUSE_TTL, show_spinner=False)
def alerts(
    wh: db.Warehouse,
    f: Filters,
    snapshot: tuple[str, str] | None = None,
    budget: tuple[str, str] | None = None,
    limit: int = db.LIST_LIMIT,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(alerts per delivery status; the latest alerts; destinations without a route) for
    alerts first raised in the window, or every alert of one (tenant, budget).

    `snapshot` is `outbox_snapshot()`: the outbox's delivery state, newer than the build's.
    Alerts known only from the outbox have no event time; they are listed whatever the window.
    """
    if budget is not None:
        where, params = "tenant_id = ? and budget_id = ?", list(budget)
    else:
        time_where, params = db.where(f, "first_occurred_at", dims=False)
        dim_where, dim_params = db.where(f, None)
        where = f"(first_occurred_at is null or ({time_where})) and {dim_where}"
        params = [*params, *dim_params]
    source, source_params = (
        (_FCT_ALERTS, []) if snapshot is None else (_WITH_SNAPSHOT, [snapshot[0]])
    )
    chosen = f"with alert_rows as ({source}) select * from alert_rows where {where}"
    every = [*source_params, *params]
    return tuple(
        db.queries(
            wh,
            (
                f"select delivery_status, count(*) as alerts from ({chosen})"
                " group by all order by delivery_status",
                every,
            ),
            (
                f"""
                select
                    first_occurred_at, alert_type, budget_id, threshold, current_value,
                    destination, delivery_status, delivery_attempts, sent_at, delivery_error,
                    route_note, tenant_id, agent_id, run_id, event_count, dedupe_key
                from ({chosen})
                order by first_occurred_at desc nulls first, dedupe_key
                limit {int(limit)}
                """,
                every,
            ),
            (
                f"select distinct tenant_id, destination, route_note from ({chosen})"
                " where route_note is not null order by tenant_id, destination",
                every,
            ),
        )
    )


@st.cache_data(ttl=db.WAREHOUSE_TTL, show_spinner=False)
def periods(wh: db.Warehouse, tenant_id: str, budget_id: str) -> pd.DataFrame:
    """Every period of one budget (marts.fct_budget_periods), newest first."""
    return db.query(
        wh,
        """
        select
            period_start, period_end, status, closes_at, limit_usd, spend_of_record_usd,
            pct_used, spend_at_close_usd, adjustment_usd, spend_usd, unpriced_calls,
            current_limit_usd, closed_at
        from marts.fct_budget_periods
        where tenant_id = ? and budget_id = ?
        order by period_start desc
        """,
        [tenant_id, budget_id],
    )


@st.cache_data(ttl=db.WAREHOUSE_TTL, show_spinner=False)
def burn_down(
    wh: db.Warehouse, tenant_id: str, budget_id: str, period_start: object
) -> pd.DataFrame:
    """Spend per UTC day of one budget period, by call time, and what remains of its limit."""
    return db.query(
        wh,
        """
        with period as (
            select tenant_id, budget_id, period_start, period_end, limit_usd
            from marts.fct_budget_periods
            where tenant_id = ? and budget_id = ? and period_start = ?
        ),
        daily as (
            select date_trunc('day', usage.hour_start) as day, sum(usage.cost_usd) as spend_usd
            from period
            inner join marts.budget_scopes as scopes
                on scopes.tenant_id = period.tenant_id and scopes.budget_id = period.budget_id
            inner join marts.agg_usage_hourly as usage
                on usage.tenant_id = scopes.tenant_id
                and usage.workspace_id = scopes.workspace_id
                and usage.project_id = scopes.project_id
                and usage.agent_id = scopes.agent_id
                and usage.hour_start >= period.period_start
                and usage.hour_start < period.period_end
            group by all
        )
        select
            daily.day,
            daily.spend_usd,
            sum(daily.spend_usd) over (order by daily.day) as cumulative_spend_usd,
            period.limit_usd - sum(daily.spend_usd) over (order by daily.day) as remaining_usd
        from daily cross join period
        order by daily.day
        """,
        [tenant_id, budget_id, period_start],
    )
