"""Every query the dashboard runs, in one place, cached.

The app reads only what `agentops-wh build` publishes:

- `$AGENTOPS_DATA_DIR/warehouse.duckdb`, opened read-only, used for the queries of one page
  render (or one query) and closed again: nothing is held between reruns, and builds never
  wait on the app since they write elsewhere and publish by rename (ingestion/warehouse.py);
- the lake's commit records (`lake/_loads/*.json`) and the quarantine (`quarantine/*.jsonl`),
  read-only, for the Data health page.

Results are cached with `st.cache_data`. Every warehouse query takes a `Warehouse` whose
`version` (file mtime and size) is part of the cache key, so a newly published warehouse is read
at once; the TTL only bounds memory. Money stays DECIMAL (Arrow decimal128 -> `Decimal`): DuckDB's
own pandas conversion would turn it into float. Queries read the marts' aggregates where they
can and cap every list with LIMIT, so a page stays fast on a warehouse of millions of events.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import streamlit as st

from app.filters import Filters

WAREHOUSE_TTL = 600  # seconds; a new publish changes the key before that
FILES_TTL = 30
LIST_LIMIT = 200

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
GRAINS = ("hour", "day")


class WarehouseError(Exception):
    """The warehouse could not be read; the message says why and what to do."""


@dataclass(frozen=True)
class Warehouse:
    """The published warehouse file as of one stat: its path and a version for cache keys."""

    path: str
    version: str
    published_at: datetime


def data_dir() -> Path:
    """`$AGENTOPS_DATA_DIR` (default ./data), without creating it: the app never writes."""
    return Path(os.environ.get("AGENTOPS_DATA_DIR", "data")).resolve()


def warehouse_path() -> Path:
    return data_dir() / "warehouse.duckdb"


def warehouse() -> Warehouse | None:
    """The published warehouse, or None when there is none yet. Not cached: one stat."""
    path = warehouse_path()
    try:
        st_ = path.stat()
    except FileNotFoundError:
        return None
    return Warehouse(
        path=str(path),
        version=f"{st_.st_mtime_ns}:{st_.st_size}",
        published_at=datetime.fromtimestamp(st_.st_mtime, UTC),
    )


def _connect(wh: Warehouse) -> duckdb.DuckDBPyConnection:
    try:
        con = duckdb.connect(wh.path, read_only=True)
    except duckdb.Error as exc:
        raise WarehouseError(
            f"Could not open the warehouse {wh.path} read-only: {exc}. "
            "Run `agentops-wh build` to publish a fresh one."
        ) from exc
    con.execute("SET TimeZone = 'UTC'")
    return con


def _frame(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None):
    try:
        table = con.sql(sql, params=params or None).to_arrow_table()
    except duckdb.CatalogException as exc:
        raise WarehouseError(
            f"The warehouse is missing a table the dashboard reads ({exc}). It was probably "
            "published by an older build: run `agentops-wh build`."
        ) from exc
    except duckdb.Error as exc:
        raise WarehouseError(f"A dashboard query failed on the warehouse: {exc}") from exc
    return table.to_pandas()


class _Reader:
    """The read-only connection the queries of one page render share, opened on first use."""

    def __init__(self, wh: Warehouse):
        self.wh = wh
        self.con: duckdb.DuckDBPyConnection | None = None


_reader: ContextVar[_Reader | None] = ContextVar("agentops_reader", default=None)


@contextmanager
def reading(wh: Warehouse | None) -> Iterator[None]:
    """Let the uncached queries of one render share one short-lived read-only connection.

    Opening a DuckDB file costs far more than a query on the marts, so a page whose cache has
    expired opens the warehouse once, not once per query; the connection is closed when the
    render ends (never held between reruns, so a new publish is seen at once). Cache hits
    open nothing. Nested use, or another warehouse version, falls back to one connection per
    query.
    """
    current = _reader.get()
    if wh is None or (current is not None and current.wh == wh):
        yield
        return
    reader = _Reader(wh)
    token = _reader.set(reader)
    try:
        yield
    finally:
        _reader.reset(token)
        if reader.con is not None:
            reader.con.close()


@contextmanager
def _connection(wh: Warehouse) -> Iterator[duckdb.DuckDBPyConnection]:
    reader = _reader.get()
    if reader is not None and reader.wh == wh:
        if reader.con is None:
            reader.con = _connect(wh)
        yield reader.con
        return
    con = _connect(wh)
    try:
        yield con
    finally:
        con.close()


def _query(wh: Warehouse, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
    """One query on the render's read-only connection (or a connection of its own)."""
    with _connection(wh) as con:
        return _frame(con, sql, params)


def _queries(wh: Warehouse, *statements: tuple[str, list[Any]]) -> list[pd.DataFrame]:
    """Several queries for one view on one connection (the same snapshot)."""
    with _connection(wh) as con:
        return [_frame(con, sql, params) for sql, params in statements]


def _where(
    f: Filters | None, time_col: str | None = None, *, dims: bool = True, alias: str = ""
) -> tuple[str, list[Any]]:
    """SQL predicate and parameters for the filters (time window on `time_col`)."""
    clauses, params = ["true"], []
    if f is None:
        return "true", []
    if time_col and f.start is not None:
        clauses.append(f"{time_col} >= ?")
        params.append(f.start)
    if time_col and f.end is not None:
        clauses.append(f"{time_col} < ?")
        params.append(f.end)
    if dims:
        for column, value in f.dims().items():
            clauses.append(f"{alias}{column} = ?")
            params.append(value)
    return " and ".join(clauses), params


def _grain(grain: str) -> str:
    if grain not in GRAINS:
        raise ValueError(f"grain must be one of {GRAINS}, not {grain!r}")
    return grain


def _one(df: pd.DataFrame) -> dict[str, Any]:
    return {} if df.empty else {k: _plain(v) for k, v in df.iloc[0].to_dict().items()}


def _plain(value: Any) -> Any:
    """NaN/NaT -> None, numpy scalars -> Python, Decimal kept."""
    if value is None or isinstance(value, Decimal | str):
        return value
    if pd.isna(value):
        return None
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value


# ---- the warehouse as a whole ------------------------------------------------------------


@st.cache_data(ttl=WAREHOUSE_TTL, show_spinner=False)
def summary(wh: Warehouse) -> dict[str, Any]:
    """Event count and the time span of the data: for empty states and "data as of"."""
    df = _query(
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
    out = _one(df)
    for key in ("first_event_at", "latest_event_at", "latest_loaded_at"):
        if out.get(key) is not None:
            out[key] = pd.Timestamp(out[key]).to_pydatetime()
    return out


@st.cache_data(ttl=WAREHOUSE_TTL, show_spinner=False)
def dimension_values(wh: Warehouse) -> pd.DataFrame:
    """Every (tenant, workspace, project, agent) seen: the sidebar's options."""
    return _query(
        wh,
        """
        select distinct tenant_id, workspace_id, project_id, agent_id
        from marts.agg_usage_hourly
        order by all
        """,
    )


# ---- Overview ------------------------------------------------------------------------------


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


def _kpi_periods(wh: Warehouse, f: Filters, compare: bool) -> dict[bool, dict[str, Any]]:
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
        where, params = _where(scope, column)
        statements.append(
            (
                f"select {period} as is_current, {measures} from {table} "
                f"where {where} group by all",
                [*period_params, *params],
            )
        )
    out: dict[bool, dict[str, Any]] = {True: dict(_KPI_ZERO), False: dict(_KPI_ZERO)}
    for df in _queries(wh, *statements):
        for row in df.to_dict("records"):
            is_current = bool(row.pop("is_current"))
            out[is_current].update({k: _plain(v) for k, v in row.items()})
    for values in out.values():
        values["spend_usd"] = Decimal(values["spend_usd"] or 0)
        ended = values["ended_runs"]
        values["success_rate"] = values["succeeded_runs"] / ended if ended else None
    return out


@st.cache_data(ttl=WAREHOUSE_TTL, show_spinner=False)
def kpis(wh: Warehouse, f: Filters) -> dict[str, Any]:
    """Headline numbers for a window: runs and outcomes, calls, tokens, spend, latency."""
    return _kpi_periods(wh, f, compare=False)[True]


@st.cache_data(ttl=WAREHOUSE_TTL, show_spinner=False)
def kpis_compared(wh: Warehouse, f: Filters) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(the window's headline numbers, the previous window's; None for an open window)."""
    if f.previous() is None:
        return _kpi_periods(wh, f, compare=False)[True], None
    periods = _kpi_periods(wh, f, compare=True)
    return periods[True], periods[False]


@st.cache_data(ttl=WAREHOUSE_TTL, show_spinner=False)
def usage_series(wh: Warehouse, f: Filters, grain: str) -> pd.DataFrame:
    """Spend, tokens and model calls per time bucket and provider."""
    where, params = _where(f, "hour_start")
    return _query(
        wh,
        f"""
        select
            date_trunc('{_grain(grain)}', hour_start) as bucket,
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


@st.cache_data(ttl=WAREHOUSE_TTL, show_spinner=False)
def run_series(wh: Warehouse, f: Filters, grain: str) -> pd.DataFrame:
    """Runs started per time bucket and final status."""
    where, params = _where(f, "started_at")
    return _query(
        wh,
        f"""
        select
            date_trunc('{_grain(grain)}', started_at) as bucket,
            run_status,
            count(*) as runs
        from marts.fct_runs
        where {where}
        group by all
        order by bucket, run_status
        """,
        params,
    )


@st.cache_data(ttl=WAREHOUSE_TTL, show_spinner=False)
def workflow_economics(wh: Warehouse, f: Filters) -> pd.DataFrame:
    """Per workflow, for runs started in the window: outcomes, spend, and the spend that
    bought nothing (failed or cancelled runs, and failed model calls, retried or not, in the
    other runs)."""
    where, params = _where(f, "started_at")
    return _query(
        wh,
        f"""
        with runs as (
            select tenant_id, run_id, coalesce(workflow_id, '(no workflow)') as workflow_id,
                   run_status, is_ended, cost_usd
            from marts.fct_runs
            where {where}
        ),
        failed_calls as (
            select tenant_id, run_id, sum(cost_usd) as cost_usd, count(*) as calls
            from marts.fct_model_calls
            where is_failed and (tenant_id, run_id) in (select tenant_id, run_id from runs)
            group by tenant_id, run_id
        )
        select
            runs.workflow_id,
            count(*) as runs,
            count(*) filter (where runs.is_ended) as ended_runs,
            count(*) filter (where runs.run_status = 'succeeded') as succeeded_runs,
            count(*) filter (where runs.run_status = 'failed') as failed_runs,
            count(*) filter (where runs.run_status = 'cancelled') as cancelled_runs,
            coalesce(sum(runs.cost_usd), 0) as spend_usd,
            coalesce(sum(runs.cost_usd) filter (
                where runs.run_status in ('failed', 'cancelled')), 0) as failed_run_spend_usd,
            coalesce(sum(failed_calls.cost_usd) filter (
                where runs.run_status not in ('failed', 'cancelled')), 0)
                as failed_call_spend_usd,
            cast(coalesce(sum(failed_calls.calls), 0) as bigint) as failed_model_calls
        from runs
        left join failed_calls
            on runs.tenant_id = failed_calls.tenant_id and runs.run_id = failed_calls.run_id
        group by runs.workflow_id
        order by spend_usd desc, runs.workflow_id
        """,
        params,
    )


@st.cache_data(ttl=WAREHOUSE_TTL, show_spinner=False)
def running_runs(wh: Warehouse, f: Filters, limit: int = 50) -> tuple[int, pd.DataFrame]:
    """Runs in progress now (no terminal event yet), newest first; the time window is ignored."""
    where, params = _where(f)
    count, rows = _queries(
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


# ---- Failures ------------------------------------------------------------------------------


@st.cache_data(ttl=WAREHOUSE_TTL, show_spinner=False)
def failure_kpis(wh: Warehouse, f: Filters) -> dict[str, Any]:
    where, params = _where(f, "occurred_at")
    return _one(
        _query(
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


@st.cache_data(ttl=WAREHOUSE_TTL, show_spinner=False)
def failure_series(wh: Warehouse, f: Filters, grain: str) -> pd.DataFrame:
    where, params = _where(f, "occurred_at")
    return _query(
        wh,
        f"""
        select date_trunc('{_grain(grain)}', occurred_at) as bucket, failed_entity,
               count(*) as failures
        from marts.fct_failures
        where {where}
        group by all
        order by bucket, failed_entity
        """,
        params,
    )


@st.cache_data(ttl=WAREHOUSE_TTL, show_spinner=False)
def failures_by_code(wh: Warehouse, f: Filters) -> pd.DataFrame:
    where, params = _where(f, "occurred_at")
    return _query(
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
        limit {LIST_LIMIT}
        """,
        params,
    )


@st.cache_data(ttl=WAREHOUSE_TTL, show_spinner=False)
def failures_by_workflow(wh: Warehouse, f: Filters) -> pd.DataFrame:
    where, params = _where(f, "occurred_at")
    return _query(
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
        limit {LIST_LIMIT}
        """,
        params,
    )


@st.cache_data(ttl=WAREHOUSE_TTL, show_spinner=False)
def recent_failures(
    wh: Warehouse, f: Filters, error_code: str | None = None, limit: int = LIST_LIMIT
) -> pd.DataFrame:
    where, params = _where(f, "occurred_at")
    if error_code:
        where += " and error_code = ?"
        params = [*params, error_code]
    return _query(
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


# ---- Cost ----------------------------------------------------------------------------------


@st.cache_data(ttl=WAREHOUSE_TTL, show_spinner=False)
def spend_by(wh: Warehouse, f: Filters, dimension: str) -> pd.DataFrame:
    """Spend, calls and tokens per value of one dimension (see SPEND_DIMENSIONS)."""
    column = SPEND_DIMENSIONS[dimension]
    where, params = _where(f, "hour_start")
    return _query(
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
        limit {LIST_LIMIT}
        """,
        params,
    )


@st.cache_data(ttl=WAREHOUSE_TTL, show_spinner=False)
def spend_series_by(wh: Warehouse, f: Filters, dimension: str, grain: str) -> pd.DataFrame:
    column = SPEND_DIMENSIONS[dimension]
    where, params = _where(f, "hour_start")
    return _query(
        wh,
        f"""
        select
            date_trunc('{_grain(grain)}', hour_start) as bucket,
            coalesce({column}, '(none)') as {dimension},
            coalesce(sum(cost_usd), 0) as spend_usd
        from marts.agg_usage_hourly
        where {where} and model_calls > 0
        group by all
        order by bucket
        """,
        params,
    )


@st.cache_data(ttl=WAREHOUSE_TTL, show_spinner=False)
def token_series(wh: Warehouse, f: Filters, grain: str) -> pd.DataFrame:
    """Token sums per bucket, by kind as reported (input includes cache reads and writes,
    output includes reasoning)."""
    where, params = _where(f, "hour_start")
    return _query(
        wh,
        f"""
        select
            date_trunc('{_grain(grain)}', hour_start) as bucket,
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


@st.cache_data(ttl=WAREHOUSE_TTL, show_spinner=False)
def unpriced_usage(wh: Warehouse, f: Filters) -> pd.DataFrame:
    where, params = _where(f, "occurred_at")
    return _query(
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
        limit {LIST_LIMIT}
        """,
        params,
    )


@st.cache_data(ttl=WAREHOUSE_TTL, show_spinner=False)
def price_book_versions(wh: Warehouse, f: Filters) -> pd.DataFrame:
    """Price book versions the window's model calls are priced with (normally one)."""
    where, params = _where(f, "occurred_at")
    return _query(
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


@st.cache_data(ttl=WAREHOUSE_TTL, show_spinner=False)
def ledger(wh: Warehouse, f: Filters, limit: int = LIST_LIMIT) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(entries by build, reason and price book version; the latest entries)."""
    where, params = _where(f, "occurred_at")
    return tuple(
        _queries(
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
                limit {LIST_LIMIT}
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


# ---- Budgets -------------------------------------------------------------------------------


@st.cache_data(ttl=WAREHOUSE_TTL, show_spinner=False)
def budgets(wh: Warehouse, period_kind: str = "current") -> pd.DataFrame:
    """Every budget's row for the current (or previous) period."""
    return _query(
        wh,
        """
        select
            budget_id, tenant_id, scope, scope_id, period, period_start, period_end, as_of,
            limit_usd, spend_usd, pct_used, thresholds, thresholds_crossed,
            highest_threshold_crossed, is_over_limit, forecast_usd, is_forecast_over_limit,
            unpriced_calls, enforcement, destination, is_scope_seen
        from marts.budget_status
        where period_kind = ?
        order by pct_used desc nulls last, tenant_id, budget_id
        """,
        [period_kind],
    )


@st.cache_data(ttl=WAREHOUSE_TTL, show_spinner=False)
def alerts(wh: Warehouse, f: Filters, limit: int = LIST_LIMIT) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(alerts per delivery status; the latest alerts) for alerts first raised in the window.

    Alerts known only from the outbox have no event time; they are listed whatever the window.
    """
    time_where, params = _where(f, "first_occurred_at", dims=False)
    dim_where, dim_params = _where(f, None)
    where = f"(first_occurred_at is null or ({time_where})) and {dim_where}"
    params = [*params, *dim_params]
    return tuple(
        _queries(
            wh,
            (
                f"""
                select delivery_status, count(*) as alerts
                from marts.fct_alerts
                where {where}
                group by all
                order by delivery_status
                """,
                params,
            ),
            (
                f"""
                select
                    first_occurred_at, alert_type, budget_id, threshold, current_value,
                    destination, delivery_status, delivery_attempts, sent_at, delivery_error,
                    tenant_id, agent_id, run_id, event_count, dedupe_key
                from marts.fct_alerts
                where {where}
                order by first_occurred_at desc nulls first, dedupe_key
                limit {int(limit)}
                """,
                params,
            ),
        )
    )


# ---- Governance ----------------------------------------------------------------------------


@st.cache_data(ttl=WAREHOUSE_TTL, show_spinner=False)
def policy_kpis(wh: Warehouse, f: Filters) -> dict[str, Any]:
    where, params = _where(f, "occurred_at")
    return _one(
        _query(
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


@st.cache_data(ttl=WAREHOUSE_TTL, show_spinner=False)
def policy_series(wh: Warehouse, f: Filters, grain: str, by: str = "decision") -> pd.DataFrame:
    """Decisions per time bucket and decision, policy or actor type (POLICY_SERIES_BY)."""
    column = POLICY_SERIES_BY[by]
    where, params = _where(f, "occurred_at")
    return _query(
        wh,
        f"""
        select date_trunc('{_grain(grain)}', occurred_at) as bucket, {column} as {by},
               count(*) as decisions
        from marts.fct_policy_decisions
        where {where}
        group by all
        order by bucket, {by}
        """,
        params,
    )


@st.cache_data(ttl=WAREHOUSE_TTL, show_spinner=False)
def policy_breakdown(wh: Warehouse, f: Filters) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(decisions per policy and decision; per actor and decision, top actors first)."""
    where, params = _where(f, "occurred_at")
    return tuple(
        _queries(
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
                limit {LIST_LIMIT}
                """,
                params,
            ),
        )
    )


@st.cache_data(ttl=WAREHOUSE_TTL, show_spinner=False)
def flagged_decisions(wh: Warehouse, f: Filters, limit: int = LIST_LIMIT) -> pd.DataFrame:
    """Blocked and escalated decisions, newest first, with their reasons."""
    where, params = _where(f, "occurred_at")
    return _query(
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


# ---- Traces --------------------------------------------------------------------------------


@st.cache_data(ttl=WAREHOUSE_TTL, show_spinner=False)
def find_runs(
    wh: Warehouse,
    f: Filters,
    run_id: str = "",
    trace_id: str = "",
    status: str | None = None,
    limit: int = 100,
) -> pd.DataFrame:
    """Runs matching an id prefix, or else the window and filters, newest first."""
    if run_id or trace_id:
        # An explicit id beats the time window: a shared link must open its run.
        where, params = _where(f, None)
    else:
        where, params = _where(f, "started_at")
    if run_id:
        where += " and starts_with(run_id, ?)"
        params = [*params, run_id]
    if trace_id:
        where += " and starts_with(trace_id, ?)"
        params = [*params, trace_id.lower()]
    if status:
        where += " and run_status = ?"
        params = [*params, status]
    return _query(
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


@st.cache_data(ttl=WAREHOUSE_TTL, show_spinner=False)
def run_detail(wh: Warehouse, tenant_id: str, run_id: str) -> dict[str, Any]:
    """The run `run_id` of tenant `tenant_id` (run ids are per tenant); {} when none."""
    df = _query(
        wh, "select * from marts.fct_runs where tenant_id = ? and run_id = ?", [tenant_id, run_id]
    )
    return _one(df)


# Step and tool spans need their type, name and latency, which the marts do not carry (only
# model calls have a fact table). They come from the staging events table that the same build
# publishes, when it is there; without it those spans still show, timed by their events.
_SPAN_DETAILS_FROM_STAGING = """
    select span_id,
           max(coalesce(step_latency_ms, tool_call_latency_ms)) as latency_ms,
           any_value(step_type) as step_type,
           any_value(tool_name) as tool_name
    from staging.stg_lake__events
    where tenant_id = ? and run_id = ? and occurred_at between ? and ?
    group by span_id
"""
_SPAN_DETAILS_NONE = """
    select cast(null as varchar) as span_id, cast(null as double) as latency_ms,
           cast(null as varchar) as step_type, cast(null as varchar) as tool_name
    where false
"""


@st.cache_data(ttl=WAREHOUSE_TTL, show_spinner=False)
def run_spans(wh: Warehouse, tenant_id: str, run_id: str) -> pd.DataFrame:
    """A run's spans (run, steps, model calls, tool calls, policy checks) with timing, tokens,
    cost and errors: one row per span_id, ordered by start."""
    with _connection(wh) as con:
        bounds = con.execute(
            "select first_event_at, last_event_at from marts.fct_runs "
            "where tenant_id = ? and run_id = ?",
            [tenant_id, run_id],
        ).fetchall()
        if not bounds:
            return pd.DataFrame()
        # Every table below is scanned for one run; its time span lets DuckDB skip the row
        # groups of other days (min/max zone maps) instead of comparing a million run ids.
        scope = [tenant_id, run_id, *bounds[0]]
        has_staging = bool(
            con.execute(
                "select count(*) from information_schema.tables "
                "where table_schema = 'staging' and table_name = 'stg_lake__events'"
            ).fetchall()[0][0]
        )
        details = _SPAN_DETAILS_FROM_STAGING if has_staging else _SPAN_DETAILS_NONE
        return _frame(
            con,
            f"""
            with
            events as (
                select * from marts.fct_events
                where tenant_id = ? and run_id = ? and occurred_at between ? and ?
            ),
            spans as (
                select
                    span_id,
                    any_value(parent_span_id) as parent_span_id,
                    case
                        when bool_or(event_type like 'run.%') then 'run'
                        when bool_or(event_type like 'step.%') then 'step'
                        when bool_or(event_type like 'model_call.%') then 'model call'
                        when bool_or(event_type like 'tool_call.%') then 'tool call'
                        when bool_or(event_type = 'policy.decision') then 'policy'
                        else 'event'
                    end as kind,
                    min(occurred_at) as first_at,
                    max(occurred_at) as last_at,
                    bool_or(is_failed) as is_failed,
                    any_value(step_id) as step_id,
                    any_value(call_id) as call_id,
                    string_agg(distinct event_type, ', ' order by event_type) as event_types
                from events
                group by span_id
            ),
            calls as (
                select span_id, provider, model, latency_ms, input_tokens, output_tokens,
                       cached_tokens, cache_write_tokens, reasoning_tokens, total_tokens,
                       cost_usd, price_status
                from marts.fct_model_calls
                where tenant_id = ? and run_id = ? and occurred_at between ? and ?
            ),
            errors as (
                select span_id,
                       arg_max(error_code, occurred_at) as error_code,
                       arg_max(error_message, occurred_at) as error_message,
                       arg_max(tool_name, occurred_at) as failed_tool_name
                from marts.fct_failures
                where tenant_id = ? and run_id = ? and occurred_at between ? and ?
                group by span_id
            ),
            policies as (
                select span_id, policy_id, decision, reason
                from marts.fct_policy_decisions
                where tenant_id = ? and run_id = ? and occurred_at between ? and ?
            ),
            details as ({details}),
            joined as (
                select
                    spans.*,
                    calls.provider, calls.model, calls.input_tokens, calls.output_tokens,
                    calls.cached_tokens, calls.cache_write_tokens, calls.reasoning_tokens,
                    calls.total_tokens, calls.cost_usd, calls.price_status,
                    errors.error_code, errors.error_message,
                    policies.policy_id, policies.decision, policies.reason as policy_reason,
                    details.step_type,
                    coalesce(details.tool_name, errors.failed_tool_name) as tool_name,
                    coalesce(calls.latency_ms, details.latency_ms) as reported_latency_ms
                from spans
                left join calls on spans.span_id = calls.span_id
                left join errors on spans.span_id = errors.span_id
                left join policies on spans.span_id = policies.span_id
                left join details on spans.span_id = details.span_id
            )
            select
                *,
                -- A completed-only span (model or tool call) ends at its event; it started
                -- its latency earlier.
                case
                    when kind in ('model call', 'tool call') and reported_latency_ms is not null
                        then last_at - to_microseconds(cast(reported_latency_ms * 1000 as bigint))
                    else first_at
                end as start_at,
                last_at as end_at
            from joined
            order by start_at, kind = 'run' desc, span_id
            """,
            scope * (5 if has_staging else 4),
        )


# ---- Data health ---------------------------------------------------------------------------


def _dir_signature(directory: Path, pattern: str) -> tuple[int, int, int]:
    """(files, total bytes, newest mtime) of a folder's matching files: a cheap cache key."""
    count = size = newest = 0
    try:
        for p in directory.glob(pattern):
            s = p.stat()
            count += 1
            size += s.st_size
            newest = max(newest, s.st_mtime_ns)
    except FileNotFoundError:
        pass
    return count, size, newest


def loads_signature() -> tuple[int, int, int]:
    return _dir_signature(data_dir() / "lake" / "_loads", "*.json")


def quarantine_signature() -> tuple[int, int, int]:
    return _dir_signature(data_dir() / "quarantine", "*.jsonl")


def _load_time(load_id: str, mtime: float) -> datetime:
    """When a load committed: its id starts with the UTC time (L20261101T000000123456_xxx);
    the commit record's mtime otherwise."""
    try:
        return datetime.strptime(load_id[1:22], "%Y%m%dT%H%M%S%f").replace(tzinfo=UTC)
    except ValueError:
        return datetime.fromtimestamp(mtime, UTC)


@st.cache_data(ttl=FILES_TTL, show_spinner=False)
def loads(directory: str, signature: tuple[int, int, int]) -> pd.DataFrame:
    """One row per committed load (lake/_loads/*.json), newest first."""
    import orjson

    rows = []
    for p in Path(directory, "lake", "_loads").glob("*.json"):
        try:
            rec = orjson.loads(p.read_bytes())
            mtime = p.stat().st_mtime
        except (OSError, orjson.JSONDecodeError):
            continue  # a record being replaced right now; the next refresh reads it
        load_id = str(rec.get("load_id") or p.stem)
        rows.append(
            {
                "loaded_at": _load_time(load_id, mtime),
                "load_id": load_id,
                "accepted": int(rec.get("accepted") or 0),
                "quarantined": int(rec.get("quarantined") or 0),
                "duplicates": int(rec.get("duplicates") or 0),
                "conflicting_duplicates": int(rec.get("conflicting_duplicates") or 0),
                "files_loaded": int(rec.get("files_loaded") or 0),
                "seconds": float(rec.get("seconds") or 0.0),
            }
        )
    columns = [
        "loaded_at", "load_id", "accepted", "quarantined", "duplicates",
        "conflicting_duplicates", "files_loaded", "seconds",
    ]  # fmt: skip
    df = pd.DataFrame(rows, columns=columns)
    if not df.empty:
        df["loaded_at"] = pd.to_datetime(df["loaded_at"], utc=True)
    return df.sort_values(["loaded_at", "load_id"], ascending=False, ignore_index=True)


@st.cache_data(ttl=FILES_TTL, show_spinner=False)
def quarantine(
    directory: str, signature: tuple[int, int, int], examples: int = 3
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(lines per reason code; the latest `examples` lines of each reason) from quarantine/."""
    folder = Path(directory, "quarantine")
    if signature[0] == 0:
        empty_reasons = pd.DataFrame(
            columns=["reason_code", "lines", "sources", "first_at", "last_at"]
        )
        empty_examples = pd.DataFrame(
            columns=["reason_code", "quarantined_at", "source", "line_no", "error", "raw"]
        )
        return empty_reasons, empty_examples
    glob = str(folder / "*.jsonl").replace("'", "''")
    source = f"""
        read_json('{glob}', format = 'newline_delimited', ignore_errors = true,
                  maximum_object_size = 67108864,
                  columns = {{source: 'VARCHAR', line_no: 'BIGINT', reason_code: 'VARCHAR',
                              errors: 'JSON', raw: 'VARCHAR', raw_b64: 'VARCHAR',
                              quarantined_at: 'VARCHAR'}})
    """
    # An in-memory DuckDB reads the files; the warehouse is not involved.
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        reasons = (
            con.sql(
                f"""
                select
                    coalesce(reason_code, '(unreadable)') as reason_code,
                    count(*) as lines,
                    count(distinct source) as sources,
                    min(try_cast(quarantined_at as timestamptz)) as first_at,
                    max(try_cast(quarantined_at as timestamptz)) as last_at
                from {source}
                group by all
                order by lines desc, reason_code
                """
            )
            .to_arrow_table()
            .to_pandas()
        )
        sample = (
            con.sql(
                f"""
                select
                    coalesce(reason_code, '(unreadable)') as reason_code,
                    try_cast(quarantined_at as timestamptz) as quarantined_at,
                    source,
                    line_no,
                    concat_ws(': ', json_extract_string(errors, '$[0].path'),
                              json_extract_string(errors, '$[0].message')) as error,
                    left(coalesce(raw, 'base64: ' || raw_b64), 500) as raw
                from {source}
                qualify row_number() over (
                    partition by reason_code order by quarantined_at desc, source, line_no
                ) <= {int(examples)}
                order by reason_code, quarantined_at desc
                """
            )
            .to_arrow_table()
            .to_pandas()
        )
    finally:
        con.close()
    return reasons, sample


@st.cache_data(ttl=WAREHOUSE_TTL, show_spinner=False)
def warehouse_loads(wh: Warehouse) -> pd.DataFrame:
    """Events per load in the published warehouse: which loads a build has picked up."""
    return _query(
        wh,
        """
        select load_id, count(*) as events, max(loaded_at) as loaded_at
        from marts.fct_events
        group by load_id
        """,
    )


@st.cache_data(ttl=WAREHOUSE_TTL, show_spinner=False)
def data_quality(wh: Warehouse) -> dict[str, Any]:
    """Counts from the data-quality models; None for a model the warehouse does not have."""
    with _connection(wh) as con:
        present = {
            name
            for (name,) in con.execute(
                "select table_name from information_schema.tables "
                "where table_schema = 'data_quality'"
            ).fetchall()
        }
        out: dict[str, Any] = {
            "duplicate_copies": None,
            "conflicting_duplicates": None,
            "run_usage_mismatches": None,
            "mismatch_examples": pd.DataFrame(),
            "conflicting_ids": None,
            "conflict_examples": pd.DataFrame(),
        }
        if "dq_duplicate_events" in present:
            row = _one(
                _frame(
                    con,
                    """
                    select count(*) as duplicate_copies,
                           count(*) filter (where is_conflicting) as conflicting_duplicates
                    from data_quality.dq_duplicate_events
                    """,
                )
            )
            out.update(row)
        if "dq_run_usage_mismatches" in present:
            out["run_usage_mismatches"] = int(
                con.execute("select count(*) from data_quality.dq_run_usage_mismatches").fetchall()[
                    0
                ][0]
            )
            out["mismatch_examples"] = _frame(
                con,
                f"""
                select run_id, tenant_id, agent_id, run_status, model_calls,
                       array_to_string(mismatched_token_kinds, ', ') as mismatched,
                       reported_total_tokens, summed_total_tokens, ended_at
                from data_quality.dq_run_usage_mismatches
                order by ended_at desc nulls last, run_id
                limit {LIST_LIMIT}
                """,
            )
        if "dq_conflicting_ids" in present:
            examples = _frame(
                con,
                f"""
                select tenant_id, id_kind, conflicting_id, event_id, winning_event_id,
                       event_type, occurred_at, loaded_at, count(*) over () as total
                from data_quality.dq_conflicting_ids
                order by loaded_at desc, tenant_id, event_id
                limit {LIST_LIMIT}
                """,
            )
            out["conflicting_ids"] = int(examples.total.iloc[0]) if len(examples) else 0
            out["conflict_examples"] = examples.drop(columns="total")
        return out
