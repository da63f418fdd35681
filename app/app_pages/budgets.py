"""Budgets: every budget's spend against its limit for the period, percent used, thresholds
crossed and the forecast at period end; the alert history with delivery status."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import charts, ui
from app.queries import budgets as q
from app.queries import connection as db


def linked() -> tuple[str | None, str | None]:
    """The budget and period an alert links to (`?tenant=...&budget_id=...&period_start=...`)."""
    return st.query_params.get("budget_id"), st.query_params.get("period_start")


def _same_instant(value: object, text: str) -> bool:
    try:
        return pd.Timestamp(value) == pd.Timestamp(text)
    except (TypeError, ValueError):
        return False


def linked_period(wh: db.Warehouse, f) -> str:
    """The period to show first: the one the alert's `period_start` names, else current."""
    wanted, start = linked()
    if not wanted or not start:
        return "current"
    for kind in ("current", "previous"):
        rows = q.budgets(wh, f, kind)
        match = rows[rows.budget_id == wanted]
        if any(_same_instant(v, start) for v in match.period_start):
            return kind
    st.warning(
        f"The alert's period from {start} is neither the current nor the previous period of "
        f"`{wanted}` any more; showing the current one.",
        icon=":material/history:",
    )
    return "current"


def focus(rows: pd.DataFrame) -> pd.DataFrame:
    """The budget an alert links to (`?budget_id=`), or every budget when none is named."""
    wanted, _ = linked()
    if not wanted or rows.empty:
        return rows
    chosen = rows[rows.budget_id == wanted]
    if chosen.empty:
        st.warning(
            f"No budget `{wanted}` under these filters; showing every budget.",
            icon=":material/search_off:",
        )
        return rows
    tenants = ", ".join(f"`{t}`" for t in sorted(chosen.tenant_id.unique()))
    st.info(
        f"Budget `{wanted}` of {tenants}, from an alert's link; its alerts are listed below.",
        icon=":material/savings:",
    )
    if st.button("Show every budget"):
        for key in ("budget_id", "period_start"):
            if key in st.query_params:
                del st.query_params[key]
        st.rerun()
    return chosen


def budget_table(wh: db.Warehouse, f) -> pd.DataFrame:
    kinds = ["current", "previous"]
    period = st.segmented_control(
        "Period", kinds, default=linked_period(wh, f), key="budget_period",
        format_func=lambda p: f"{p.title()} period",
    ) or "current"  # fmt: skip
    rows = focus(q.budgets(wh, f, period))
    if rows.empty:
        st.info(
            "No budget applies to these filters. Budgets come from the CSV file named by "
            "`$AGENTOPS_BUDGETS_FILE` (the sample `schemas/examples/budgets.csv` when unset): "
            "one row per budget of a tenant, on the tenant or one of its workspaces, projects or "
            "agents; daily, weekly or monthly; limit and alert thresholds. The next "
            "`agentops-wh build` publishes them.",
            icon=":material/savings:",
        )
        return rows
    unseen = rows[~rows.is_scope_seen]
    if not unseen.empty:
        listed = ", ".join(
            f"`{b}` ({scope} `{sid}` of tenant `{t}`)"
            for b, scope, sid, t in zip(
                unseen.budget_id, unseen.scope, unseen.scope_id, unseen.tenant_id, strict=True
            )
        )
        st.warning(
            f"No event of its tenant ever named the scope of {len(unseen)} budget(s): "
            f"{listed}. They can only show $0; check the scope id in the budgets file.",
            icon=":material/help:",
        )
    over = int(rows.is_over_limit.sum())
    forecast_over = int((rows.is_forecast_over_limit & ~rows.is_over_limit).sum())
    crossed = int(rows.highest_threshold_crossed.notna().sum())
    cols = st.columns(4)
    cols[0].metric("Budgets", ui.integer(len(rows)), border=True)
    cols[1].metric("Over limit", ui.integer(over), border=True)
    cols[2].metric(
        "Forecast over limit",
        ui.integer(forecast_over),
        border=True,
        help="Not over yet, but heading there at the current pace.",
    )
    cols[3].metric("With a threshold crossed", ui.integer(crossed), border=True)
    as_of = rows.as_of.max()
    st.caption(
        f"Periods in UTC, computed as of {ui.when(as_of)} (the build). Spend counts priced "
        "model calls only; the forecast extends the spend so far in a straight line. A period "
        "closes at its end plus the close grace; crossings found after that are recorded, not "
        "sent as live alerts."
    )
    table = rows.assign(
        thresholds_crossed=[
            ", ".join(f"{int(t)}%" for t in (v if v is not None else [])) or "none"
            for v in rows.thresholds_crossed
        ],
        thresholds=[", ".join(f"{int(t)}%" for t in v) for v in rows.thresholds],
    )
    ui.table(
        table,
        "budgets",
        column_order=[
            "budget_id",
            "tenant_id",
            "scope",
            "scope_id",
            "is_scope_seen",
            "period",
            "period_start",
            "is_closed",
            "limit_usd",
            "spend_usd",
            "pct_used",
            "thresholds_crossed",
            "forecast_usd",
            "is_forecast_over_limit",
            "thresholds",
            "enforcement",
            "destination",
            "unpriced_calls",
        ],
        config={
            "period_start": ui.time_column("period start (UTC)"),
            "is_closed": st.column_config.CheckboxColumn(
                "closed", help="Past its end plus the close grace: no live alerts any more."
            ),
            "limit_usd": ui.money_column("limit"),
            "spend_usd": ui.money_column("spend"),
            "pct_used": st.column_config.ProgressColumn(
                "% used", format="%.1f%%", min_value=0, max_value=100
            ),
            "thresholds_crossed": "crossed",
            "is_scope_seen": st.column_config.CheckboxColumn(
                "scope seen", help="Whether any event of the tenant ever named this scope."
            ),
            "forecast_usd": ui.money_column("forecast at period end"),
            "is_forecast_over_limit": st.column_config.CheckboxColumn("forecast over"),
            "unpriced_calls": "unpriced calls (not in spend)",
        },
    )
    ui.chart(st, charts.budget_bars(rows))
    return rows


def period_history(wh: db.Warehouse, f) -> None:
    st.subheader("Period history and burn-down")
    rows = q.budgets(wh, f, "current")
    if rows.empty:
        return
    choices = list(zip(rows.tenant_id, rows.budget_id, strict=True))
    tenant_id, budget_id = st.selectbox(
        "Budget",
        choices,
        format_func=lambda c: f"{c[1]} (tenant {c[0]})",
        key="history_budget",
    )
    history = q.periods(wh, tenant_id, budget_id)
    if history.empty:
        return
    st.caption(
        "Every period of the budget. A period closes a grace after its end "
        "(`AGENTOPS_BUDGET_CLOSE_GRACE`, an hour by default): its limit and spend freeze, and "
        "spend that arrives later is an adjustment beside the closed figure, never a rewrite "
        "of it."
    )
    ui.table(
        history,
        "budget_periods",
        config={
            "period_start": ui.time_column("period start (UTC)"),
            "period_end": ui.time_column("period end (UTC)"),
            "closes_at": ui.time_column("closes (UTC)"),
            "closed_at": ui.time_column("closed (UTC)"),
            "limit_usd": ui.money_column("limit"),
            "spend_of_record_usd": ui.money_column("spend of record"),
            "pct_used": st.column_config.NumberColumn("% used", format="%.1f%%"),
            "spend_at_close_usd": ui.money_column("spend at close"),
            "adjustment_usd": ui.money_column("adjustment after close"),
            "spend_usd": ui.money_column("spend now"),
            "current_limit_usd": ui.money_column("limit today"),
            "unpriced_calls": "unpriced calls (not in spend)",
        },
    )
    period_start = history.period_start.iloc[0]
    days = q.burn_down(wh, tenant_id, budget_id, period_start)
    if days.empty:
        st.caption("No spend in the latest period yet.")
        return
    st.caption(
        f"Burn-down of the period from {ui.when(period_start)}: what remains of the limit "
        "after each UTC day's spend (by call time)."
    )
    chart = days.set_index("day")[["remaining_usd", "cumulative_spend_usd"]].astype(float)
    st.line_chart(chart, y_label="USD")


STATUS_LABELS = {"suppressed": "not sent (period closed)"}


def alert_history(wh: db.Warehouse, f, shown: pd.DataFrame) -> None:
    wanted, _ = linked()
    budget = None
    if wanted and not shown.empty and set(shown.budget_id) == {wanted}:
        budget = (str(shown.tenant_id.iloc[0]), wanted)
    st.subheader(f"Alerts of `{budget[1]}`" if budget else "Alerts")
    counts, rows, unrouted = q.alerts(wh, f, q.outbox_snapshot(), budget)
    if not unrouted.empty:
        listed = "; ".join(
            f"`{d}` of tenant `{t}`"
            for t, d in zip(unrouted.tenant_id, unrouted.destination, strict=True)
        )
        st.warning(
            f"No route in `$AGENTOPS_ALERT_ROUTES` for {listed}: their alerts went to "
            "`SLACK_WEBHOOK_URL` instead. Add the destination to the routes.",
            icon=":material/alt_route:",
        )
    if rows.empty:
        st.caption(
            "No alert in this window. Budget alerts come from budget.threshold_hit and "
            "alert.emitted events, and from the deliveries Dagster records in the outbox."
        )
        return
    cols = st.columns(max(1, len(counts)))
    for col, (status, n) in zip(cols, counts.itertuples(index=False), strict=True):
        col.metric(f"Alerts {STATUS_LABELS.get(status, status)}", ui.integer(n), border=True)
    rows = rows.assign(
        budget=[ui.budget_link(t, b) for t, b in zip(rows.tenant_id, rows.budget_id, strict=True)]
    )
    ui.table(
        rows,
        "alerts",
        config={
            "budget": st.column_config.LinkColumn("budget", display_text="open budget"),
            "first_occurred_at": ui.time_column("raised (UTC)"),
            "sent_at": ui.time_column("sent (UTC)"),
            "current_value": st.column_config.NumberColumn("value", format="%.1f"),
        },
    )


def body() -> None:
    wh, f = ui.current()
    ui.header("Budgets", f, wh, note="budgets show their own period, not the time range")
    if not ui.ready(wh):
        return
    with ui.guard():
        shown = budget_table(wh, f)
        period_history(wh, f)
        alert_history(wh, f, shown)


ui.refreshing(body)()
