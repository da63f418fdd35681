"""The published warehouse, read-only: opening it, one connection per page render, and the
helpers every query uses (filters as SQL, cached results, plain values).

The app reads only what `agentops-wh build` publishes, `$AGENTOPS_DATA_DIR/warehouse.duckdb`,
opened read-only, used for the queries of one page render (or one query) and closed again:
nothing is held between reruns, and builds never wait on the app since they write elsewhere
and publish by rename (README, "Reading the warehouse from a notebook").

Results are cached with `st.cache_data(ttl=...)` in the page modules. Every warehouse query
takes a `Warehouse` whose `version` (file mtime and size) is part of the cache key, so a newly
published warehouse is read at once; the TTL only bounds memory. Money stays DECIMAL (Arrow
decimal128 -> `Decimal`): DuckDB's own pandas conversion would turn it into float. Queries
read the marts' aggregates where they can and cap every list with LIMIT, so a page stays fast
on a warehouse of millions of events.

This is also the one place where the viewer's tenants are enforced. A `Warehouse` carries the
tenants of the viewer it was made for (`warehouse()` reads them from the session, where the
entry script puts what the access file grants; a session without them sees no tenant). A
connection for a viewer with a list of tenants is an in-memory database in which every table
of `marts` and `data_quality` is a view of the published one restricted to those tenants, and
tables without a tenant are empty: a page cannot forget the filter, because the unfiltered
tables are not where its SQL looks. The tenants are part of every cache key, so viewers never
share cached results.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from app.filters import Filters

WAREHOUSE_TTL = 600  # seconds; a new publish changes the key before that
LIST_LIMIT = 200

GRAINS = ("hour", "day")

# The published schemas a scoped connection exposes (the app reads nothing else).
SCOPED_SCHEMAS = ("marts", "data_quality")
_VIEWER_KEY = "_agentops_viewer_tenants"


class WarehouseError(Exception):
    """The warehouse could not be read; the message says why and what to do."""


@dataclass(frozen=True)
class Warehouse:
    """The published warehouse file as of one stat: its path and a version for cache keys."""

    path: str
    version: str
    published_at: datetime
    # The viewer's tenants, sorted; None: every tenant (local use, or a grant of `*`).
    tenants: tuple[str, ...] | None = None


def set_viewer_tenants(tenants: frozenset[str] | None) -> None:
    """Record the tenants this session's viewer may see (None: every tenant)."""
    st.session_state[_VIEWER_KEY] = None if tenants is None else tuple(sorted(tenants))


def viewer_tenants() -> tuple[str, ...] | None:
    """The tenants the current viewer may see.

    Inside a Streamlit session, what the entry script recorded, and no tenant at all when it
    recorded nothing (so a path that skips it shows nothing rather than everything). Outside
    any session (a notebook, a test reading the warehouse as code) every tenant.
    """
    if get_script_run_ctx(suppress_warning=True) is None:
        return None
    return st.session_state.get(_VIEWER_KEY, ())


def data_dir() -> Path:
    """`$AGENTOPS_DATA_DIR` (default ./data), without creating it: the app never writes."""
    return Path(os.environ.get("AGENTOPS_DATA_DIR", "data")).resolve()


def warehouse_path() -> Path:
    """Where `agentops-wh build` publishes the warehouse."""
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
        tenants=viewer_tenants(),
    )


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _scope(con: duckdb.DuckDBPyConnection, tenants: tuple[str, ...]) -> None:
    """Make `marts.*` and `data_quality.*` of the in-memory `con` the published tables
    restricted to `tenants` (attached as `published`); tables without a tenant are empty."""
    columns = con.execute(
        "select table_schema, table_name, bool_or(column_name = 'tenant_id') "
        "from information_schema.columns where table_catalog = 'published' "
        f"and table_schema in ({', '.join(map(_literal, SCOPED_SCHEMAS))}) "
        "group by all order by all"
    ).fetchall()
    allowed = ", ".join(map(_literal, tenants)) if tenants else None
    statements = [f"create schema memory.{schema}" for schema in SCOPED_SCHEMAS]
    for schema, table, has_tenant in columns:
        keep = f"tenant_id in ({allowed})" if has_tenant and allowed else "false"
        statements.append(
            f'create view memory.{schema}."{table}" as '
            f'select * from published.{schema}."{table}" where {keep}'
        )
    con.execute(";\n".join(statements))


def _connect(wh: Warehouse) -> duckdb.DuckDBPyConnection:
    try:
        if wh.tenants is None:
            con = duckdb.connect(wh.path, read_only=True)
        else:
            con = duckdb.connect(":memory:")
            con.execute(f"attach {_literal(wh.path)} as published (read_only)")
            _scope(con, wh.tenants)
            # Nothing else of the file system is readable from this connection.
            con.execute("set enable_external_access = false")
    except duckdb.Error as exc:
        raise WarehouseError(
            f"Could not open the warehouse {wh.path} read-only: {exc}. "
            "Run `agentops-wh build` to publish a fresh one."
        ) from exc
    con.execute("SET TimeZone = 'UTC'")
    return con


def frame(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None
) -> pd.DataFrame:
    """A query's rows as a DataFrame, DECIMAL kept; a failure as a WarehouseError."""
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
def connection(wh: Warehouse) -> Iterator[duckdb.DuckDBPyConnection]:
    """The render's read-only connection (see `reading`), or one of its own, closed after."""
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


def query(wh: Warehouse, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
    """One query on the render's read-only connection (or a connection of its own)."""
    with connection(wh) as con:
        return frame(con, sql, params)


def queries(wh: Warehouse, *statements: tuple[str, list[Any]]) -> list[pd.DataFrame]:
    """Several queries for one view on one connection (the same snapshot)."""
    with connection(wh) as con:
        return [frame(con, sql, params) for sql, params in statements]


def where(
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


def grain(value: str) -> str:
    """A time-series grain, checked (it is put into SQL as is)."""
    if value not in GRAINS:
        raise ValueError(f"grain must be one of {GRAINS}, not {value!r}")
    return value


def one(df: pd.DataFrame) -> dict[str, Any]:
    """The first row as plain Python values ({} without rows)."""
    return {} if df.empty else {k: plain(v) for k, v in df.iloc[0].to_dict().items()}


def plain(value: Any) -> Any:
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
