"""Where the product keeps its state: one data directory, `$AGENTOPS_DATA_DIR` (default ./data)."""

from __future__ import annotations

import os
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
