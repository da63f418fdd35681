"""The Traces page's queries: runs found by id or window (marts.fct_runs), one run, and its
spans for the waterfall (marts.fct_spans)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from app.filters import Filters
from app.queries import connection as db


@st.cache_data(ttl=db.WAREHOUSE_TTL, show_spinner=False)
def find_runs(
    wh: db.Warehouse,
    f: Filters,
    run_id: str = "",
    trace_id: str = "",
    status: str | None = None,
    limit: int = 100,
) -> pd.DataFrame:
    """Runs matching an id prefix, or else the window and filters, newest first."""
    if run_id or trace_id:
        # An explicit id beats the time window: a shared link must open its run.
        where, params = db.where(f, None)
    else:
        where, params = db.where(f, "started_at")
    if run_id:
        where += " and starts_with(run_id, ?)"
        params = [*params, run_id]
    if trace_id:
        where += " and starts_with(trace_id, ?)"
        params = [*params, trace_id.lower()]
    if status:
        where += " and run_status = ?"
        params = [*params, status]
    return db.query(
        wh,
        f"""
        select
            started_at, run_id, run_status, agent_id, coalesce(workflow_id, '(no workflow)')
                as workflow_id, duration_ms, steps, model_calls, tool_calls, failures,
            total_tokens, cost_usd, error_code, trace_id, tenant_id
        from marts.fct_runs
        where {where}
        order by started_at desc, run_id
        limit {int(limit)}
        """,
        params,
    )


@st.cache_data(ttl=db.WAREHOUSE_TTL, show_spinner=False)
def run_detail(wh: db.Warehouse, tenant_id: str, run_id: str) -> dict[str, Any]:
    """The run `run_id` of tenant `tenant_id` (run ids are per tenant); {} when none."""
    df = db.query(
        wh, "select * from marts.fct_runs where tenant_id = ? and run_id = ?", [tenant_id, run_id]
    )
    return db.one(df)


@st.cache_data(ttl=db.WAREHOUSE_TTL, show_spinner=False)
def run_spans(wh: db.Warehouse, tenant_id: str, run_id: str) -> pd.DataFrame:
    """A run's spans (run, steps, model calls, tool calls, policy checks) with timing, tokens,
    cost and errors: one row per span_id, ordered by start (marts.fct_spans)."""
    with db.connection(wh) as con:
        bounds = con.execute(
            "select first_event_at, last_event_at from marts.fct_runs "
            "where tenant_id = ? and run_id = ?",
            [tenant_id, run_id],
        ).fetchall()
        if not bounds:
            return pd.DataFrame()
        # The run's time span lets DuckDB skip the row groups of other days (min/max zone
        # maps) instead of comparing every run id of the table.
        return db.frame(
            con,
            """
            select
                span_id, parent_span_id, replace(span_kind, '_', ' ') as kind,
                started_at as start_at, ended_at as end_at, is_failed, event_types,
                step_id, step_type, call_id, tool_name, provider, model,
                input_tokens, output_tokens, cached_tokens, cache_write_tokens,
                reasoning_tokens, total_tokens, cost_usd,
                -- Priced from the tokens the span carried, without their cache share.
                case
                    when is_cache_share_unknown then price_status || ', cache share unknown'
                    else price_status
                end as price_status,
                error_code, error_message, policy_id, policy_decision as decision,
                policy_reason, latency_ms
            from marts.fct_spans
            where tenant_id = ? and run_id = ? and first_event_at between ? and ?
            order by start_at, kind = 'run' desc, span_id
            """,
            [tenant_id, run_id, *bounds[0]],
        )
