"""The Cost page's queries: spend by any dimension and over time, tokens by kind, unpriced
usage, price book versions and the cost ledger."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app.filters import Filters
from app.queries import connection as db

# Columns the "spend by" views may group on (a whitelist: they are put into SQL as is).
SPEND_DIMENSIONS = {
    "tenant": "tenant_id",
    "workspace": "workspace_id",
    "project": "project_id",
    "agent": "agent_id",
    "workflow": "workflow_id",
    "provider": "provider",
    "model": "model",
}


@st.cache_data(ttl=db.WAREHOUSE_TTL, show_spinner=False)
def spend_by(wh: db.Warehouse, f: Filters, dimension: str) -> pd.DataFrame:
    """Spend, calls and tokens per value of one dimension (see SPEND_DIMENSIONS)."""
    column = SPEND_DIMENSIONS[dimension]
    where, params = db.where(f, "hour_start")
    return db.query(
        wh,
        f"""
        select
            coalesce({column}, '(none)') as {dimension},
            -- NULL when all of a group's calls are unpriced: unknown, not free.
            sum(cost_usd) as spend_usd,
            cast(sum(model_calls) as bigint) as model_calls,
            cast(sum(unpriced_calls) as bigint) as unpriced_calls,
            cast(sum(total_tokens) as bigint) as total_tokens
        from marts.agg_usage_hourly
        where {where} and model_calls > 0
        group by all
        order by spend_usd desc nulls last, {dimension}
        limit {db.LIST_LIMIT}
        """,
        params,
    )


@st.cache_data(ttl=db.WAREHOUSE_TTL, show_spinner=False)
def spend_series_by(wh: db.Warehouse, f: Filters, dimension: str, grain: str) -> pd.DataFrame:
    column = SPEND_DIMENSIONS[dimension]
    where, params = db.where(f, "hour_start")
    return db.query(
        wh,
        f"""
        select
            date_trunc('{db.grain(grain)}', hour_start) as bucket,
            coalesce({column}, '(none)') as {dimension},
            coalesce(sum(cost_usd), 0) as spend_usd
        from marts.agg_usage_hourly
        where {where} and model_calls > 0
        group by all
        order by bucket
        """,
        params,
    )


@st.cache_data(ttl=db.WAREHOUSE_TTL, show_spinner=False)
def token_series(wh: db.Warehouse, f: Filters, grain: str) -> pd.DataFrame:
    """Token sums per bucket, by kind as reported (input includes cache reads and writes,
    output includes reasoning)."""
    where, params = db.where(f, "hour_start")
    return db.query(
        wh,
        f"""
        select
            date_trunc('{db.grain(grain)}', hour_start) as bucket,
            cast(sum(input_tokens) as bigint) as input_tokens,
            cast(sum(cached_tokens) as bigint) as cached_tokens,
            cast(sum(cache_write_tokens) as bigint) as cache_write_tokens,
            cast(sum(output_tokens) as bigint) as output_tokens,
            cast(sum(reasoning_tokens) as bigint) as reasoning_tokens,
            cast(sum(total_tokens) as bigint) as total_tokens
        from marts.agg_usage_hourly
        where {where} and model_calls > 0
        group by all
        order by bucket
        """,
        params,
    )


@st.cache_data(ttl=db.WAREHOUSE_TTL, show_spinner=False)
def unpriced_usage(wh: db.Warehouse, f: Filters) -> pd.DataFrame:
    where, params = db.where(f, "occurred_at")
    return db.query(
        wh,
        f"""
        select
            provider, model,
            count(*) as model_calls,
            cast(sum(input_tokens) as bigint) as input_tokens,
            cast(sum(cached_tokens) as bigint) as cached_tokens,
            cast(sum(cache_write_tokens) as bigint) as cache_write_tokens,
            cast(sum(output_tokens) as bigint) as output_tokens,
            cast(sum(total_tokens) as bigint) as total_tokens,
            min(occurred_at) as first_seen_at,
            max(occurred_at) as last_seen_at
        from marts.fct_model_calls
        where price_status = 'unpriced' and {where}
        group by all
        order by model_calls desc, provider, model
        limit {db.LIST_LIMIT}
        """,
        params,
    )


@st.cache_data(ttl=db.WAREHOUSE_TTL, show_spinner=False)
def price_book_versions(wh: db.Warehouse, f: Filters) -> pd.DataFrame:
    """Price book versions the window's model calls are priced with (normally one)."""
    where, params = db.where(f, "occurred_at")
    return db.query(
        wh,
        f"""
        select price_book_version, count(*) as model_calls
        from marts.fct_model_calls
        where {where}
        group by all
        order by model_calls desc, price_book_version
        """,
        params,
    )


@st.cache_data(ttl=db.WAREHOUSE_TTL, show_spinner=False)
def ledger(
    wh: db.Warehouse, f: Filters, limit: int = db.LIST_LIMIT
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(entries by build, reason and price book version; the latest entries)."""
    where, params = db.where(f, "occurred_at")
    return tuple(
        db.queries(
            wh,
            (
                f"""
                select
                    booked_at, reason, price_book_version,
                    count(*) as entries,
                    sum(cost_usd) as cost_usd
                from marts.fct_cost_ledger
                where {where}
                group by all
                order by booked_at desc, reason, price_book_version
                limit {db.LIST_LIMIT}
                """,
                params,
            ),
            (
                f"""
                select
                    booked_at, reason, cost_usd, price_book_version, model_call_id,
                    provider, model, occurred_at, run_id, tenant_id, ledger_entry_id
                from marts.fct_cost_ledger
                where {where}
                order by booked_at desc, occurred_at desc, ledger_entry_id
                limit {int(limit)}
                """,
                params,
            ),
        )
    )


@st.cache_data(ttl=db.WAREHOUSE_TTL, show_spinner=False)
def incomplete_overrides(wh: db.Warehouse) -> pd.DataFrame:
    """Negotiated rates that leave a token price out where genai-prices has none to inherit."""
    return db.query(
        wh,
        """
        select provider_id, model_id, valid_from, missing_price_key
        from data_quality.dq_price_overrides_incomplete
        order by provider_id, model_id, valid_from nulls first, missing_price_key
        """,
    )


@st.cache_data(ttl=db.WAREHOUSE_TTL, show_spinner=False)
def reconciliation(wh: db.Warehouse, f: Filters) -> pd.DataFrame:
    """Provider-days of the window, those that do not match their statement first.

    Statements bill the whole organisation, so the tenant and scope filters do not apply.
    """
    clauses, params = ["true"], []
    if f.start is not None:
        clauses.append("usage_date >= cast(? as date)")
        params.append(f.start)
    if f.end is not None:
        clauses.append("usage_date < cast(? as date) + 1")
        params.append(f.end)
    return db.query(
        wh,
        f"""
        select
            usage_date, provider, status, ledger_usd, invoiced_usd, diff_usd, diff_pct,
            reported_usd, reported_ledger_usd, model_calls, unpriced_calls
        from marts.fct_cost_reconciliation
        where {" and ".join(clauses)}
        order by
            case status
                when 'over' then 0 when 'under' then 0 when 'missing_ledger' then 0
                when 'missing_invoice' then 1 else 2
            end,
            abs(coalesce(diff_usd, ledger_usd)) desc, usage_date desc, provider
        limit {db.LIST_LIMIT}
        """,
        params,
    )
