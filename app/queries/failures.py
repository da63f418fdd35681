"""The Failures page's queries: failures over time, by error code and by workflow, and the
latest failed events (marts.fct_failures)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from app.filters import Filters
from app.queries import connection as db


@st.cache_data(ttl=db.WAREHOUSE_TTL, show_spinner=False)
def failure_kpis(wh: db.Warehouse, f: Filters) -> dict[str, Any]:
    where, params = db.where(f, "occurred_at")
    return db.one(
        db.query(
            wh,
            f"""
            select
                count(*) as failures,
                count(*) filter (where failed_entity = 'run') as failed_runs,
                count(*) filter (where failed_entity = 'model_call') as failed_model_calls,
                count(*) filter (where failed_entity = 'tool_call') as failed_tool_calls,
                count(distinct error_code) as error_codes,
                count(*) filter (where is_error_retryable) as retryable
            from marts.fct_failures
            where {where}
            """,
            params,
        )
    )


@st.cache_data(ttl=db.WAREHOUSE_TTL, show_spinner=False)
def failure_series(wh: db.Warehouse, f: Filters, grain: str) -> pd.DataFrame:
    where, params = db.where(f, "occurred_at")
    return db.query(
        wh,
        f"""
        select date_trunc('{db.grain(grain)}', occurred_at) as bucket, failed_entity,
               count(*) as failures
        from marts.fct_failures
        where {where}
        group by all
        order by bucket, failed_entity
        """,
        params,
    )


@st.cache_data(ttl=db.WAREHOUSE_TTL, show_spinner=False)
def failures_by_code(wh: db.Warehouse, f: Filters) -> pd.DataFrame:
    where, params = db.where(f, "occurred_at")
    return db.query(
        wh,
        f"""
        select
            error_code,
            mode(error_type) as error_type,
            count(*) as failures,
            count(distinct (tenant_id, run_id)) as runs_affected,
            max(occurred_at) as last_seen_at,
            arg_max(error_message, occurred_at) as latest_message
        from marts.fct_failures
        where {where}
        group by error_code
        order by failures desc, error_code
        limit {db.LIST_LIMIT}
        """,
        params,
    )


@st.cache_data(ttl=db.WAREHOUSE_TTL, show_spinner=False)
def failures_by_workflow(wh: db.Warehouse, f: Filters) -> pd.DataFrame:
    where, params = db.where(f, "occurred_at")
    return db.query(
        wh,
        f"""
        select
            coalesce(workflow_id, '(no workflow)') as workflow_id,
            count(*) as failures,
            count(*) filter (where failed_entity = 'run') as failed_runs,
            count(distinct error_code) as error_codes,
            mode(error_code) as top_error_code
        from marts.fct_failures
        where {where}
        group by all
        order by failures desc, workflow_id
        limit {db.LIST_LIMIT}
        """,
        params,
    )


@st.cache_data(ttl=db.WAREHOUSE_TTL, show_spinner=False)
def recent_failures(
    wh: db.Warehouse, f: Filters, error_code: str | None = None, limit: int = db.LIST_LIMIT
) -> pd.DataFrame:
    where, params = db.where(f, "occurred_at")
    if error_code:
        where += " and error_code = ?"
        params = [*params, error_code]
    return db.query(
        wh,
        f"""
        select
            occurred_at, failed_entity, error_code, error_type, error_message,
            coalesce(workflow_id, '(no workflow)') as workflow_id, agent_id, tenant_id,
            coalesce(tool_name, provider || '/' || model) as target,
            is_error_retryable, run_id, trace_id, event_id
        from marts.fct_failures
        where {where}
        order by occurred_at desc, event_id
        limit {int(limit)}
        """,
        params,
    )
