"""`budgets_reference`: Dagster refreshes the budgets reference data before dbt, as the CLI
does, and a refused budgets file fails the step with the CLI's message."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest

from orchestration.assets import budgets_reference
from orchestration.resources import WarehouseResource

HEADER = "budget_id,tenant_id,scope,scope_id,period,limit_usd,thresholds,enforcement,destination"


def test_budgets_reference_writes_the_file_and_refuses_a_bad_one(
    data_dir: Path, tmp_path: Path, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    budgets = tmp_path / "budgets.csv"
    budgets.write_text(f"{HEADER}\nz,zeta,agent,bot,monthly,3.50,,alert,webhook:ops\n")
    monkeypatch.setenv("AGENTOPS_BUDGETS_FILE", str(budgets))
    resources = {"warehouse": WarehouseResource()}
    result = dg.materialize([budgets_reference], resources=resources, instance=instance)
    assert result.success
    (materialization,) = result.asset_materializations_for_node("budgets_reference")
    assert materialization.metadata["budgets"].value == 1
    written = pq.read_table(data_dir / "reference" / "budgets.parquet").to_pylist()
    assert [(b["budget_id"], b["tenant_id"], b["limit_usd"]) for b in written] == [
        ("z", "zeta", Decimal("3.5"))
    ]

    budgets.write_text(f"{HEADER}\nz,zeta,agent,bot,monthly,3.50,,alert,pager\n")
    result = dg.materialize(
        [budgets_reference], resources=resources, instance=instance, raise_on_error=False
    )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    description = failure.step_failure_data.user_failure_data.description
    assert (
        "line 2, destination: 'pager' is not a route; write slack:#channel, webhook:NAME or "
        "email:ADDRESS, or leave it empty for the default route"
    ) in description
    # The last good reference data stays for the next build.
    assert pq.read_table(data_dir / "reference" / "budgets.parquet").num_rows == 1
