"""Reading `marts.budget_status` from the published warehouse: the one reader of budgets' state,
shared by the HTTP loader's `/v1/budgets/check` and the budget alerts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb

BUDGET_STATUS = "marts.budget_status"


def read_budget_status(
    con: duckdb.DuckDBPyConnection, columns: Sequence[str], *, period_kind: str | None = None
) -> list[dict[str, Any]] | None:
    """Rows of marts.budget_status as {column: value}, by tenant, budget and period start.

    `period_kind` keeps only the `current` or `previous` period of each budget. None when the
    warehouse has no budget_status (published by a build without it, or not a warehouse).
    """
    where, params = ("where period_kind = ?", [period_kind]) if period_kind else ("", [])
    try:
        cur = con.execute(
            f"select {', '.join(columns)} from {BUDGET_STATUS} {where}"
            " order by tenant_id, budget_id, period_start",
            params,
        )
    except duckdb.CatalogException:
        return None
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
