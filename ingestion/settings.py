"""Where the product keeps its state: one data directory, `$AGENTOPS_DATA_DIR` (default ./data)."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"


def data_dir() -> Path:
    """The data directory, created on first use."""
    path = Path(os.environ.get("AGENTOPS_DATA_DIR", "data")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def warehouse_path(base: Path | None = None) -> Path:
    """The published, read-only warehouse every reader opens."""
    return (base or data_dir()) / "warehouse.duckdb"


# A budget period stays open for late spend this long after its end; then it is closed: its
# alerts are no longer live (orchestration/alerts/rules.py). dbt reads the same variable, with
# the same default, in the macro `budget_close_grace_hours` (dbt_project/macros/budgets.sql),
# overridable there by the var `budget_close_grace_hours`.
BUDGET_CLOSE_GRACE_ENV = "AGENTOPS_BUDGET_CLOSE_GRACE"
DEFAULT_BUDGET_CLOSE_GRACE_HOURS = 1


def budget_close_grace_hours(env: Mapping[str, str] | None = None) -> float:
    """`$AGENTOPS_BUDGET_CLOSE_GRACE` in hours (a number >= 0; default 1)."""
    raw = (os.environ if env is None else env).get(BUDGET_CLOSE_GRACE_ENV, "").strip()
    if not raw:
        return float(DEFAULT_BUDGET_CLOSE_GRACE_HOURS)
    try:
        hours = float(raw)
    except ValueError:
        hours = -1.0
    if not (hours >= 0 and math.isfinite(hours)):
        raise ValueError(
            f"{BUDGET_CLOSE_GRACE_ENV}={raw!r} is not a number of hours >= 0; write e.g. 1 "
            f"(an hour) or 0.25, or unset it for {DEFAULT_BUDGET_CLOSE_GRACE_HOURS}"
        )
    return hours
