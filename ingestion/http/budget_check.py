"""`GET /v1/budgets/check`: is an agent within its `block` budgets, from the published warehouse."""

from __future__ import annotations

import math
import threading
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from ingestion.http.bodies import ApiError
from ingestion.http.budget_status import BUDGET_STATUS, read_budget_status


class BudgetReader:
    """Current-period budget rows of the published warehouse, re-read when a new one appears.

    Opens the warehouse read-only for one query and closes it at once (a held connection
    would get in the way of publishing); the rows are kept until the file changes.
    """

    COLUMNS = (
        "budget_id", "tenant_id", "scope", "scope_id", "period", "period_start", "period_end",
        "as_of", "limit_usd", "spend_usd", "pct_used", "is_over_limit", "forecast_usd",
        "enforcement",
    )  # fmt: skip

    def __init__(self, path: Path):
        self.path = path
        self._signature: tuple[int, int, int] | None = None
        self._rows: list[dict[str, Any]] = []
        self._note: str | None = None
        self._lock = threading.Lock()

    def rows(self) -> tuple[list[dict[str, Any]], str | None]:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return [], "no warehouse published yet"
        signature = (st.st_ino, st.st_mtime_ns, st.st_size)
        with self._lock:
            if signature != self._signature:
                self._rows, self._note = self._read()
                self._signature = signature
            return self._rows, self._note

    def _read(self) -> tuple[list[dict[str, Any]], str | None]:
        import duckdb

        try:
            con = duckdb.connect(str(self.path), read_only=True)
        except duckdb.Error as exc:
            raise ApiError(
                503,
                "warehouse_unavailable",
                f"the published warehouse cannot be opened right now ({exc}); retry shortly",
                headers={"Retry-After": "2"},
            ) from None
        try:
            rows = read_budget_status(con, self.COLUMNS, period_kind="current")
        finally:
            con.close()
        if rows is None:
            return [], f"the published warehouse has no {BUDGET_STATUS} yet"
        return rows, None


def jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):  # money as an exact string, without trailing zeros
        return format(value.normalize(), "f")
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def budget_decision(
    rows: list[dict[str, Any]], tenant_id: str, scopes: dict[str, str | None], now: datetime
) -> dict[str, Any]:
    """Whether a caller is within its `block` budgets: the pure part of /v1/budgets/check.

    Only budgets of `tenant_id` are looked at: scope ids are per tenant, and another tenant's
    budget on a project of the same name is none of the caller's business.
    """
    matching = []
    for row in rows:
        if row["tenant_id"] != tenant_id:
            continue
        if row["scope"] == "tenant":
            pass  # a tenant budget covers every call of its tenant
        elif scopes.get(row["scope"]) is None or row["scope_id"] != scopes[row["scope"]]:
            continue
        end = row["period_end"]
        stale = end is not None and end.astimezone(UTC) <= now
        matching.append({**{k: jsonable(v) for k, v in row.items()}, "is_stale": stale})
    blocking = [
        b
        for b in matching
        if b["enforcement"] == "block" and b["is_over_limit"] and not b["is_stale"]
    ]
    return {
        "allowed": not blocking,
        "blocking": [b["budget_id"] for b in blocking],
        "as_of": jsonable(rows[0]["as_of"]) if rows else None,
        "budgets": matching,
    }
