"""Budget periods close: the figures freeze, late spend is an adjustment beside them.

Two real builds of a small lake, with budget_as_of pinned after November's close (its end plus
the close grace, an hour by default): the first closes November with the spend of the first
load; the second load (later events of the same November days) and a raised limit then change
nothing of the closed figures: the new spend shows as adjustment_usd. Each tenant counts its
own spend.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from ingestion.files.loader import load_paths
from orchestration.alerts.readers import read_budget_periods
from orchestration.warehouse import build as warehouse
from tests.warehouse.fixtures import make_fixture

pytestmark = pytest.mark.slow

AS_OF = "2026-12-05T00:00:00Z"
HEADER = "budget_id,tenant_id,scope,scope_id,period,limit_usd,thresholds,enforcement,destination\n"


def budgets(acme_limit: str) -> str:
    return (
        HEADER
        + f"monthly,acme,tenant,,monthly,{acme_limit},,alert,\n"
        + "globex-monthly,globex,tenant,,monthly,7.00,,alert,\n"
    )


def november(con: duckdb.DuckDBPyConnection) -> dict[str, tuple]:
    rows = con.execute(
        """
        select tenant_id, status, limit_usd, current_limit_usd, spend_usd, spend_at_close_usd,
               adjustment_usd, spend_of_record_usd
        from marts.fct_budget_periods
        where period_start = timestamptz '2026-11-01 00:00:00+00'
        """
    ).fetchall()
    return {r[0]: r[1:] for r in rows}


def spend(con: duckdb.DuckDBPyConnection) -> dict[str, Decimal]:
    """November's priced spend per tenant, straight from the model calls."""
    return dict(
        con.execute(
            "select tenant_id, sum(cost_usd) from marts.fct_model_calls "
            "where occurred_at >= timestamptz '2026-11-01 00:00:00+00' "
            "and occurred_at < timestamptz '2026-12-01 00:00:00+00' group by all"
        ).fetchall()
    )


def test_late_spend_after_close_is_an_adjustment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    budgets_file = tmp_path / "budgets.csv"
    budgets_file.write_text(budgets("100.00"))
    monkeypatch.setenv("AGENTOPS_BUDGETS_FILE", str(budgets_file))
    first, second = make_fixture(seed=5, runs=40).write(tmp_path / "events")

    def build() -> Path:
        result = warehouse.build(data, dbt_vars={"budget_as_of": AS_OF})
        assert result.success, f"{result.summary()}\n{result.output_tail}"
        return result.published_path

    load_paths([first], data, final=True)
    with duckdb.connect(str(build()), read_only=True) as con:
        closed = november(con)
        at_close = spend(con)
    assert set(closed) == {"acme", "globex"}
    for tenant, limit in (("acme", Decimal(100)), ("globex", Decimal(7))):
        status, lim, current, now, frozen, adjustment, of_record = closed[tenant]
        assert (status, lim, current) == ("closed", limit, limit)
        assert now == frozen == of_record == at_close[tenant] > 0
        assert adjustment == 0

    # Late November events arrive, and acme's limit is raised, after the close.
    load_paths([second], data, final=True)
    budgets_file.write_text(budgets("150.00"))
    with duckdb.connect(str(build()), read_only=True) as con:
        later = november(con)
        now_spend = spend(con)
    for tenant, limit in (("acme", Decimal(100)), ("globex", Decimal(7))):
        status, lim, current, now, frozen, adjustment, of_record = later[tenant]
        assert (status, lim) == ("closed", limit), "the limit in force at close stays"
        assert frozen == of_record == at_close[tenant], "the closed figure never changes"
        assert now == now_spend[tenant] > at_close[tenant]
        assert adjustment == now_spend[tenant] - at_close[tenant]
    assert later["acme"][2] == Decimal(150), "today's limit is shown beside it"
    # the alert rules read the same close: November (previous) is closed, December open
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        periods = read_budget_periods(con)
    assert sorted((p.tenant_id, p.period_kind, p.is_closed) for p in periods) == [
        ("acme", "current", False),
        ("acme", "previous", True),
        ("globex", "current", False),
        ("globex", "previous", True),
    ]
