"""The Overview page's queries: what is running now, trends of spend, tokens and run
outcomes, and per workflow its health and economics (marts.agg_workflow_runs_hourly)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app.filters import Filters
from app.queries import connection as db


@st.cache_data(ttl=db.WAREHOUSE_TTL, show_spinner=False)
def usage_series(wh: db.Warehouse, f: Filters, grain: str) -> pd.DataFrame:
    """Spend, tokens and model calls per time bucket and provider."""
    where, params = db.where(f, "hour_start")
    return db.query(
        wh,
        f"""
        select
            date_trunc('{db.grain(grain)}', hour_start) as bucket,
            provider,
            coalesce(sum(cost_usd), 0) as spend_usd,
            cast(sum(total_tokens) as bigint) as total_tokens,
            cast(sum(model_calls) as bigint) as model_calls
        from marts.agg_usage_hourly
        where {where} and model_calls > 0
        group by all
        order by bucket, provider
        """,
        params,
    )


@st.cache_data(ttl=db.WAREHOUSE_TTL, show_spinner=False)
def run_series(wh: db.Warehouse, f: Filters, grain: str) -> pd.DataFrame:
    """Runs started per time bucket and final status."""
    where, params = db.where(f, "started_at")
    return db.query(
        wh,
        f"""
        select
            date_trunc('{db.grain(grain)}', started_at) as bucket,
            run_status,
            count(*) as runs
        from marts.fct_runs
        where {where}
        group by all
        order by bucket, run_status
        """,
        params,
    )


@st.cache_data(ttl=db.WAREHOUSE_TTL, show_spinner=False)
def workflow_economics(wh: db.Warehouse, f: Filters) -> pd.DataFrame:
    """Per workflow, for runs started in the window (spend by run start): outcomes, spend, the
    spend of the runs that succeeded, and the spend that
    bought nothing (failed or cancelled runs, and failed model calls, retried or not, in the
    other runs). Sums of the hourly mart: windows are whole UTC hours."""
    where, params = db.where(f, "hour_start")
    return db.query(
        wh,
        f"""
        select
            coalesce(workflow_id, '(no workflow)') as workflow_id,
            cast(sum(runs) as bigint) as runs,
            cast(sum(ended_runs) as bigint) as ended_runs,
            cast(sum(succeeded_runs) as bigint) as succeeded_runs,
            cast(sum(failed_runs) as bigint) as failed_runs,
            cast(sum(cancelled_runs) as bigint) as cancelled_runs,
            coalesce(sum(spend_usd), 0) as spend_usd,
            sum(succeeded_spend_usd) as succeeded_spend_usd,
            sum(failed_run_spend_usd) as failed_run_spend_usd,
            sum(failed_call_spend_usd) as failed_call_spend_usd,
            sum(wasted_spend_usd) as wasted_usd,
            cast(sum(failed_model_calls) as bigint) as failed_model_calls
        from marts.agg_workflow_runs_hourly
        where {where}
        group by all
        order by spend_usd desc, workflow_id
        """,
        params,
    )


@st.cache_data(ttl=db.WAREHOUSE_TTL, show_spinner=False)
def running_runs(wh: db.Warehouse, f: Filters, limit: int = 50) -> tuple[int, pd.DataFrame]:
    """Runs in progress now (no terminal event yet), newest first; the time window is ignored."""
    where, params = db.where(f)
    count, rows = db.queries(
        wh,
        (
            f"select count(*) as n from marts.fct_runs where run_status = 'running' and {where}",
            params,
        ),
        (
            f"""
            select run_id, trace_id, tenant_id, agent_id, workflow_id, started_at,
                   last_event_at, steps, model_calls, total_tokens, cost_usd
            from marts.fct_runs
            where run_status = 'running' and {where}
            order by started_at desc, run_id
            limit {int(limit)}
            """,
            params,
        ),
    )
    return int(count.iloc[0, 0]), rows
