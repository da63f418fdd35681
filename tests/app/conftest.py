"""A small fixed-seed warehouse, built once per session with the real loader and dbt build,
and helpers to run the dashboard's pages in Streamlit's AppTest and to query the warehouse
directly (the independent computation the pages are checked against)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest
from streamlit import config as st_config
from streamlit.testing.v1 import AppTest

from ingestion.files.loader import load_paths
from ingestion.reference.statements import import_statement
from ingestion.settings import PROJECT_ROOT
from ingestion.synthetic.generator import GeneratorConfig, generate_lines, write_jsonl
from orchestration.warehouse.build import build

APP = PROJECT_ROOT / "app" / "streamlit_app.py"
PAGES = {
    "overview": "app_pages/overview.py",
    "failures": "app_pages/failures.py",
    "traces": "app_pages/traces.py",
    "cost": "app_pages/cost.py",
    "budgets": "app_pages/budgets.py",
    "governance": "app_pages/governance.py",
    "data_health": "app_pages/data_health.py",
}
# budget_status' "now": inside the generated window, so current periods have spend.
AS_OF = "2026-11-03T18:00:00Z"
CONFIG = GeneratorConfig(
    start=datetime(2026, 11, 1, tzinfo=UTC),
    end=datetime(2026, 11, 4, tzinfo=UTC),
    seed=7,
    tenants=3,
    runs_per_day=150,
    invalid_rate=0.01,
    duplicate_rate=0.01,
)


STATEMENT = "date,provider,amount_usd\n2026-11-01,,0.25\n2026-12-25,,5\n"


@pytest.fixture(scope="session")
def warehouse_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Data directory with a lake, a quarantine and a published warehouse (~6k events)."""
    base = tmp_path_factory.mktemp("dashboard")
    events, data = base / "events", base / "data"
    # The "nan" defect is left out: the loader's non-finite-number path raises instead of
    # quarantining the line (reported; not the dashboard's concern). Every other defect stays.
    lines = ((line, kind) for line, kind in generate_lines(CONFIG) if kind != "nan")
    write_jsonl(lines, events)
    summary = load_paths([events], data, final=True)
    assert summary.accepted > 5000 and summary.quarantined > 0
    # A provider statement, as `agentops-wh reconcile import` writes it: one day billed, and
    # a day without any call.
    statement = base / "openai-2026-11.csv"
    statement.write_text(STATEMENT)
    import_statement(data, statement, provider="openai")
    result = build(data, dbt_vars={"budget_as_of": AS_OF})
    if not result.success:
        pytest.fail(f"the fixture warehouse did not build:\n{result.summary()}")
    return data


@pytest.fixture(scope="session")
def empty_warehouse_dir(warehouse_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A published warehouse with every table and no rows: a build before the first load."""
    data = tmp_path_factory.mktemp("empty") / "data"
    data.mkdir()
    path = data / "warehouse.duckdb"
    shutil.copy(warehouse_dir / "warehouse.duckdb", path)
    con = duckdb.connect(str(path))
    try:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_type = 'BASE TABLE' and table_schema in ('marts', 'data_quality')"
        ).fetchall()
        for schema, table in tables:
            con.execute(f'delete from "{schema}"."{table}"')
        con.execute("checkpoint")
    finally:
        con.close()
    return data


def run_page(
    data_dir: Path,
    page: str,
    *,
    user: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
    **query: str | list[str],
) -> AppTest:
    """Run the app with `query` as URL parameters, then switch to `page` (a PAGES key).

    As `agentops-wh dashboard` starts it: listening on 127.0.0.1. `secrets` (an `[auth]`
    section) turns sign-in on, and `user` is who `st.user` says is signed in.
    """
    st_config.set_option("server.address", "127.0.0.1")
    at = AppTest.from_file(str(APP), default_timeout=120)
    if secrets is not None:
        at.secrets.update(secrets)
    if user is not None:
        at.user = user
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    if page != "overview":
        at.switch_page(PAGES[page]).run()
    return at


@pytest.fixture
def page(monkeypatch: pytest.MonkeyPatch) -> Callable[..., AppTest]:
    def run(data_dir: Path, name: str, **query: Any) -> AppTest:
        monkeypatch.setenv("AGENTOPS_DATA_DIR", str(data_dir))
        at = run_page(data_dir, name, **query)
        assert not at.exception, [e.value for e in at.exception]
        return at

    return run


def sql(data_dir: Path, query: str, params: list[Any] | None = None) -> pd.DataFrame:
    """The independent side: a query straight on the published warehouse."""
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        return con.sql(query, params=params or None).to_arrow_table().to_pandas()
    finally:
        con.close()


def scalar(data_dir: Path, query: str, params: list[Any] | None = None) -> Any:
    return sql(data_dir, query, params).iloc[0, 0]


def metric(at: AppTest, label: str) -> str:
    values = [m.value for m in at.metric if m.label == label]
    assert values, f"no metric {label!r}; metrics: {[m.label for m in at.metric]}"
    return values[0]


def frame(at: AppTest, *columns: str) -> pd.DataFrame:
    """The page's dataframe that has all `columns` (the first one, in page order)."""
    for df in at.dataframe:
        if set(columns) <= set(df.value.columns):
            return df.value
    seen = [list(df.value.columns) for df in at.dataframe]
    raise AssertionError(f"no dataframe with columns {columns}; dataframes: {seen}")


def usd(value: Any, places: int = 2) -> str:
    exact = Decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return f"{'-' if exact < 0 else ''}${abs(exact):,.{places}f}"
