"""Jobs: `warehouse_job` (load -> dbt build -> publish) and `alerts_job` (evaluate, deliver)."""

import dagster as dg

from orchestration.assets import (
    alert_outbox,
    budget_alerts,
    budgets_reference,
    lake_events,
    published_warehouse,
    warehouse_dbt_models,
    warehouse_seeds,
)

warehouse_job = dg.define_asset_job(
    name="warehouse_job",
    selection=dg.AssetSelection.assets(
        lake_events, budgets_reference, warehouse_seeds, warehouse_dbt_models, published_warehouse
    ),
    description=(
        "Load new landing files and WAL leftovers into the lake, refresh the budgets from the "
        "budgets file, run `dbt build`, publish the warehouse. landing_files_sensor starts it "
        "for new files, without the seeds unless the build database has none yet."
    ),
    # The steps run one after the other anyway; in one process they skip two Python
    # start-ups and definition loads (tens of seconds on a small machine) on a freshness path.
    executor_def=dg.in_process_executor,
)

alerts_job = dg.define_asset_job(
    name="alerts_job",
    selection=dg.AssetSelection.assets(budget_alerts, alert_outbox),
    description=(
        "Record the alerts the published warehouse calls for in the outbox, then deliver "
        "every due alert. Requested by budget_threshold_sensor (new alerts, retries due) and, "
        "for delivery alone, by run_failure_sensor."
    ),
    executor_def=dg.in_process_executor,
)
