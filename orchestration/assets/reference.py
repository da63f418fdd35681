"""`budgets_reference`: the budgets file, validated, as reference data for dbt; refreshed on a
clock, since budget periods and their `as_of` move with it."""

# No `from __future__ import annotations` here: Dagster reads the annotations of decorated
# functions (context and resource parameters) as real types when the definitions load.

import dagster as dg
import pyarrow.parquet as pq

from ingestion.reference.budgets import budgets_file
from orchestration.assets.dbt import LOAD_IF_MISSING
from orchestration.resources import WarehouseResource
from orchestration.warehouse.build import BuildError, refresh_reference

# budget_status is computed for the wall clock at build time: its current period, spend so
# far and forecast go stale as time passes even when no event arrives. Every tick re-reads the
# budgets file (an edit takes effect then too) and the budget models rebuild downstream.
BUDGETS_REFRESH_CRON = "*/10 * * * *"


@dg.asset(
    key="budgets_reference",
    group_name="ingestion",
    kinds={"parquet"},
    automation_condition=dg.AutomationCondition.on_cron(BUDGETS_REFRESH_CRON) | LOAD_IF_MISSING,
    description=(
        "The budgets file ($AGENTOPS_BUDGETS_FILE, else schemas/examples/budgets.csv), validated "
        "and written as $AGENTOPS_DATA_DIR/reference/budgets.parquet: dbt's `reference.budgets` "
        "source; with it the model references genai-prices resolves and the loads dbt reads "
        "(reference/model_refs.parquet, reference/committed_loads.parquet). Refreshed on every "
        "warehouse_job run, as `agentops-wh build` does, and every 10 minutes; a refused file "
        "fails this step, naming its lines and fields, and nothing downstream runs."
    ),
)
def budgets_reference(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    # The lock `agentops-wh build` takes: the file changes between builds, never during one.
    with warehouse.build_lock():
        try:
            path, *_model_refs = refresh_reference(warehouse.base())
        except BuildError as exc:
            raise dg.Failure(description=str(exc)) from exc
    count = pq.read_metadata(path).num_rows
    context.log.info(f"{count} budget(s) from {budgets_file()} written to {path}")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(path)),
            "source": dg.MetadataValue.path(str(budgets_file())),
            "budgets": count,
        }
    )
