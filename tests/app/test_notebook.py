"""app/notebooks/finance.ipynb runs, cell by cell, on the fixture's published warehouse."""

from __future__ import annotations

from pathlib import Path

import duckdb
import nbformat
from nbclient import NotebookClient

from ingestion.settings import PROJECT_ROOT
from tests.app.conftest import sql

NOTEBOOK = PROJECT_ROOT / "app" / "notebooks" / "finance.ipynb"


def test_finance_notebook_runs(warehouse_dir: Path, monkeypatch) -> None:
    monkeypatch.setenv("AGENTOPS_DATA_DIR", str(warehouse_dir))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    # a cell that fails raises CellExecutionError, failing the test
    NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    outputs = [c.outputs for c in notebook.cells if c.cell_type == "code"]
    assert all(outputs[:-1]), "every cell but the last shows something"
    # the first answer: month-to-date spend, the same total as the ledger
    month = outputs[0][0]["text"].split()[3]
    expected = sql(
        warehouse_dir,
        "select sum(cost_usd) from marts.fct_cost_ledger where strftime(occurred_at, '%Y-%m') = ?",
        [month],
    ).iloc[0, 0]
    assert expected > 0
    printed, table = outputs[1][0]["text"], outputs[1][1]["data"]["text/plain"]
    assert printed.startswith(f"month-to-date spend: {expected} USD")
    assert "spend_usd" in table and "project_id" in table


def test_published_marts_carry_column_descriptions(warehouse_dir: Path) -> None:
    """dbt's persist_docs: every column of the published marts has its description."""
    with duckdb.connect(str(warehouse_dir / "warehouse.duckdb"), read_only=True) as con:
        missing = con.execute(
            "select table_name || '.' || column_name from duckdb_columns() "
            "where schema_name = 'marts' and (comment is null or comment = '') order by 1"
        ).fetchall()
        total = con.execute(
            "select count(*) from duckdb_columns() where schema_name = 'marts'"
        ).fetchone()[0]
        ledger = con.execute(
            "select comment from duckdb_columns() where schema_name = 'marts' "
            "and table_name = 'fct_cost_ledger' and column_name = 'cost_usd'"
        ).fetchone()[0]
    assert total > 250 and missing == []
    assert ledger.startswith("USD of this entry")
