"""`budgets_reference`: the budgets file, validated, as reference data for dbt."""

# No `from __future__ import annotations` here: Dagster reads the annotations of decorated
# functions (context and resource parameters) as real types when the definitions load.

import dagster as dg
import pyarrow.parquet as pq

from ingestion.budgets import budgets_file
from ingestion.warehouse import BuildError, refresh_reference
from orchestration.resources import WarehouseResource


@dg.asset(
    key="budgets_reference",
    group_name="ingestion",
    kinds={"parquet"},
    description=(
        "The budgets file ($AGENTOPS_BUDGETS_FILE, else examples/budgets.csv), validated and "
        "written as $AGENTOPS_DATA_DIR/reference/budgets.parquet: dbt's `reference.budgets` "
        "source; with it the model references genai-prices resolves and the loads dbt reads "
        "(reference/model_refs.parquet, reference/committed_loads.parquet). Refreshed on every "
        "warehouse_job run, as `agentops-wh build` does; a refused file fails this step, "
        "naming its lines and fields, and nothing downstream runs."
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
