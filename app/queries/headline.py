"""What the header, the sidebar and more than one page read: the data's time span, the
filter options, and the headline numbers of a window (Overview, Cost)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pandas as pd
import streamlit as st

from app.filters import Filters
from app.queries import connection as db


@st.cache_data(ttl=db.WAREHOUSE_TTL, show_spinner=False)
def summary(wh: db.Warehouse) -> dict[str, Any]:
    """Event count and the time span of the data: for empty states and "data as of"."""
    df = db.query(
        wh,
        """
        select
            count(*) as events,
            min(occurred_at) as first_event_at,
            max(occurred_at) as latest_event_at,
            max(loaded_at) as latest_loaded_at
        from marts.fct_events
        """,
    )
    out = db.one(df)
    for key in ("first_event_at", "latest_event_at", "latest_loaded_at"):
        if out.get(key) is not None:
            out[key] = pd.Timestamp(out[key]).to_pydatetime()
    return out


@st.cache_data(ttl=db.WAREHOUSE_TTL, show_spinner=False)
def dimension_values(wh: db.Warehouse) -> pd.DataFrame:
    """Every (tenant, workspace, project, agent) seen: the sidebar's options."""
    return db.query(
        wh,
        """
        select distinct tenant_id, workspace_id, project_id, agent_id
        from marts.agg_usage_hourly
        order by all
        """,
    )


_KPI_ZERO = {
    "model_calls": 0,
    "failed_model_calls": 0,
    "total_tokens": 0,
    "spend_usd": Decimal(0),
    "unpriced_calls": 0,
    "runs": 0,
    "ended_runs": 0,
    "succeeded_runs": 0,
    "failed_runs": 0,
    "cancelled_runs": 0,
    "latency_p50_ms": None,
    "latency_p95_ms": None,
}


def _kpi_periods(wh: db.Warehouse, f: Filters, compare: bool) -> dict[bool, dict[str, Any]]:
    """Headline numbers per period: True for the window, False for the one before it (when
    `compare`). Both periods come from one scan of each table."""
    prev = f.previous() if compare else None
    scope = replace(f, start=prev.start) if prev is not None else f

    def split(column: str) -> tuple[str, list[Any]]:
        return (f"{column} >= ?", [f.start]) if prev is not None else ("true", [])

    statements = []
    for table, column, measures in (
        (
            "marts.agg_usage_hourly",
            "hour_start",
            """
            cast(coalesce(sum(model_calls), 0) as bigint) as model_calls,
            cast(coalesce(sum(failed_model_calls), 0) as bigint) as failed_model_calls,
            cast(coalesce(sum(total_tokens), 0) as bigint) as total_tokens,
            coalesce(sum(cost_usd), 0) as spend_usd,
            cast(coalesce(sum(unpriced_calls), 0) as bigint) as unpriced_calls
            """,
        ),
        (
            "marts.fct_runs",
            "started_at",
            """
            count(*) as runs,
            count(*) filter (where is_ended) as ended_runs,
            count(*) filter (where run_status = 'succeeded') as succeeded_runs,
            count(*) filter (where run_status = 'failed') as failed_runs,
            count(*) filter (where run_status = 'cancelled') as cancelled_runs
            """,
        ),
        (
            "marts.fct_model_calls",
            "occurred_at",
            """
            quantile_cont(latency_ms, 0.5) as latency_p50_ms,
            quantile_cont(latency_ms, 0.95) as latency_p95_ms
            """,
        ),
    ):
        period, period_params = split(column)
        where, params = db.where(scope, column)
        statements.append(
            (
                f"select {period} as is_current, {measures} from {table} "
                f"where {where} group by all",
                [*period_params, *params],
            )
        )
    out: dict[bool, dict[str, Any]] = {True: dict(_KPI_ZERO), False: dict(_KPI_ZERO)}
    for df in db.queries(wh, *statements):
        for row in df.to_dict("records"):
            is_current = bool(row.pop("is_current"))
            out[is_current].update({k: db.plain(v) for k, v in row.items()})
    for values in out.values():
        values["spend_usd"] = Decimal(values["spend_usd"] or 0)
        ended = values["ended_runs"]
        values["success_rate"] = values["succeeded_runs"] / ended if ended else None
    return out


@st.cache_data(ttl=db.WAREHOUSE_TTL, show_spinner=False)
def kpis(wh: db.Warehouse, f: Filters) -> dict[str, Any]:
    """Headline numbers for a window: runs and outcomes, calls, tokens, spend, latency."""
    return _kpi_periods(wh, f, compare=False)[True]


@st.cache_data(ttl=db.WAREHOUSE_TTL, show_spinner=False)
def kpis_compared(wh: db.Warehouse, f: Filters) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(the window's headline numbers, the previous window's; None for an open window, or
    when the data does not cover the whole previous window: a change against a window the
    data only began in (+17512.8%) says nothing)."""
    prev = f.previous()
    first = summary(wh).get("first_event_at") if prev is not None else None
    if prev is None or prev.start is None or first is None or first > prev.start:
        return _kpi_periods(wh, f, compare=False)[True], None
    periods = _kpi_periods(wh, f, compare=True)
    return periods[True], periods[False]
