"""The Dagster code location: `dagster dev -m orchestration.definitions` (`make dagster`).

Dagster decides when things run: sensors on new landing files, lake commits, published
budgets and failed runs, and automation conditions on the assets (dbt models and the publish
rebuild eagerly when anything upstream updates; seeds when their files change; the budgets
reference on a clock), evaluated by `warehouse_automation_sensor`.
"""

import dagster as dg

from ingestion import logs
from orchestration.assets import ASSETS
from orchestration.jobs import alerts_job, warehouse_job
from orchestration.resources import build_resources
from orchestration.sensors import (
    budget_threshold_sensor,
    lake_commits_sensor,
    landing_files_sensor,
    run_failure_sensor,
)

AUTOMATION_SENSOR_SECONDS = 10

warehouse_automation_sensor = dg.AutomationConditionSensorDefinition(
    "warehouse_automation_sensor",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=AUTOMATION_SENSOR_SECONDS,
    description="Evaluates the assets' automation conditions and requests the runs they call for.",
)

# Our own log lines (loads, publishes, alert deliveries) as JSON on stderr, which Dagster
# keeps with each run's compute logs.
logs.configure()

defs = dg.Definitions(
    assets=ASSETS,
    jobs=[warehouse_job, alerts_job],
    sensors=[
        landing_files_sensor,
        lake_commits_sensor,
        budget_threshold_sensor,
        run_failure_sensor,
        warehouse_automation_sensor,
    ],
    resources=build_resources(),
    # Runs the automation sensor requests too: one process per run, not one per step.
    executor=dg.in_process_executor,
)
