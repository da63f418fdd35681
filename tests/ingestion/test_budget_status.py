"""`read_budget_status`: the one reader of marts.budget_status, on a small warehouse."""

from __future__ import annotations

from pathlib import Path

import duckdb

from ingestion.http.budget_status import read_budget_status


def warehouse(path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path))
    con.execute("create schema marts")
    con.execute(
        """create table marts.budget_status as select * from (values
            ('zeta', 'z-1', 'current', timestamp '2026-11-25', 5.0),
            ('acme', 'a-2', 'previous', timestamp '2026-11-24', 3.0),
            ('acme', 'a-2', 'current', timestamp '2026-11-25', 4.0),
            ('acme', 'a-1', 'current', timestamp '2026-11-25', 1.0)
        ) t(tenant_id, budget_id, period_kind, period_start, spend_usd)"""
    )
    return con


def test_rows_by_tenant_budget_and_period(tmp_path: Path) -> None:
    with warehouse(tmp_path / "w.duckdb") as con:
        rows = read_budget_status(con, ["tenant_id", "budget_id", "spend_usd"])
    assert [(r["tenant_id"], r["budget_id"], float(r["spend_usd"])) for r in rows or []] == [
        ("acme", "a-1", 1.0),
        ("acme", "a-2", 3.0),
        ("acme", "a-2", 4.0),
        ("zeta", "z-1", 5.0),
    ]


def test_one_period_kind(tmp_path: Path) -> None:
    with warehouse(tmp_path / "w.duckdb") as con:
        rows = read_budget_status(con, ["budget_id", "period_kind"], period_kind="current")
    assert rows == [
        {"budget_id": "a-1", "period_kind": "current"},
        {"budget_id": "a-2", "period_kind": "current"},
        {"budget_id": "z-1", "period_kind": "current"},
    ]


def test_a_warehouse_without_budget_status(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "empty.duckdb")) as con:
        assert read_budget_status(con, ["budget_id"]) is None
