"""`published_warehouse`: the build database published for readers, after every build."""

# No `from __future__ import annotations` here: Dagster reads the annotations of decorated
# functions (context and resource parameters) as real types when the definitions load.

import dagster as dg

from orchestration.assets.dbt import EAGER, warehouse_dbt_models
from orchestration.resources import WarehouseResource
from orchestration.warehouse.build import log_published


@dg.asset(
    key="published_warehouse",
    deps=[warehouse_dbt_models],
    group_name="warehouse",
    kinds={"duckdb"},
    automation_condition=EAGER,
    description=(
        "$AGENTOPS_DATA_DIR/warehouse.duckdb: the last successful build, checkpointed, copied "
        "and renamed into place atomically, so readers (the dashboard, the budget sensor) open "
        "it read-only at any moment and a failed build publishes nothing."
    ),
)
def published_warehouse(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    path = warehouse.publish()
    context.log.info(f"published {path}")
    log_published(warehouse.base(), path, context.run_id)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(path)),
            "bytes": path.stat().st_size,
            "version": warehouse.published_version() or "",
        }
    )
