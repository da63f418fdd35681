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

from app.filters import Filters

WAREHOUSE_TTL = 600  # seconds; a new publish changes the key before that
LIST_LIMIT = 200

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
