"""The Governance page's queries: policy decisions over time, by policy and by actor, and the
blocked and escalated ones (marts.fct_policy_decisions)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from app.filters import Filters
from app.queries import connection as db


@st.cache_data(ttl=db.WAREHOUSE_TTL, show_spinner=False)
def policy_kpis(wh: db.Warehouse, f: Filters) -> dict[str, Any]:
    where, params = db.where(f, "occurred_at")
    return db.one(
        db.query(
            wh,
            f"""
            select
                count(*) as decisions,
                count(*) filter (where decision = 'allow') as allowed,
                count(*) filter (where decision = 'block') as blocked,
                count(*) filter (where decision = 'escalate') as escalated,
                count(*) filter (where decision = 'redact') as redacted
            from marts.fct_policy_decisions
            where {where}
            """,
            params,
        )
    )


POLICY_SERIES_BY = {"decision": "decision", "policy": "policy_id", "actor": "actor_type"}


@st.cache_data(ttl=db.WAREHOUSE_TTL, show_spinner=False)
def policy_series(wh: db.Warehouse, f: Filters, grain: str, by: str = "decision") -> pd.DataFrame:
    """Decisions per time bucket and decision, policy or actor type (POLICY_SERIES_BY)."""
    column = POLICY_SERIES_BY[by]
    where, params = db.where(f, "occurred_at")
    return db.query(
        wh,
        f"""
        select date_trunc('{db.grain(grain)}', occurred_at) as bucket, {column} as {by},
               count(*) as decisions
        from marts.fct_policy_decisions
        where {where}
        group by all
        order by bucket, {by}
        """,
        params,
    )


@st.cache_data(ttl=db.WAREHOUSE_TTL, show_spinner=False)
def policy_breakdown(wh: db.Warehouse, f: Filters) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(decisions per policy and decision; per actor and decision, top actors first)."""
    where, params = db.where(f, "occurred_at")
    return tuple(
        db.queries(
            wh,
            (
                f"""
                select policy_id, decision, count(*) as decisions
                from marts.fct_policy_decisions
                where {where}
                group by all
                order by policy_id, decision
                """,
                params,
            ),
            (
                f"""
                select
                    actor_type, actor_id,
                    count(*) as decisions,
                    count(*) filter (where decision = 'allow') as allowed,
                    count(*) filter (where decision = 'block') as blocked,
                    count(*) filter (where decision = 'escalate') as escalated,
                    count(*) filter (where decision = 'redact') as redacted
                from marts.fct_policy_decisions
                where {where}
                group by all
                order by decisions desc, actor_type, actor_id
                limit {db.LIST_LIMIT}
                """,
                params,
            ),
        )
    )


@st.cache_data(ttl=db.WAREHOUSE_TTL, show_spinner=False)
def flagged_decisions(wh: db.Warehouse, f: Filters, limit: int = db.LIST_LIMIT) -> pd.DataFrame:
    """Blocked and escalated decisions, newest first, with their reasons."""
    where, params = db.where(f, "occurred_at")
    return db.query(
        wh,
        f"""
        select
            occurred_at, decision, policy_id, rule, reason, actor_type, actor_id,
            agent_id, coalesce(workflow_id, '(no workflow)') as workflow_id, tenant_id,
            run_id, event_id
        from marts.fct_policy_decisions
        where decision in ('block', 'escalate') and {where}
        order by occurred_at desc, event_id
        limit {int(limit)}
        """,
        params,
    )
