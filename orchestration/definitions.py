"""The Dagster code location: `dagster dev -m orchestration.definitions` (`make dagster`)."""

from __future__ import annotations

import dagster as dg

from orchestration.assets import (
    alert_outbox,
    budgets_reference,
    lake_events,
    published_warehouse,
    warehouse_dbt_models,
)
from orchestration.jobs import alerts_job, warehouse_job
from orchestration.resources import (
    SlackResource,
    WarehouseResource,
    WebhookResource,
    dbt_resource,
)
from orchestration.schedules import warehouse_job_schedule
from orchestration.sensors import budget_threshold_sensor, landing_files_sensor

defs = dg.Definitions(
    assets=[
        lake_events,
        budgets_reference,
        warehouse_dbt_models,
        published_warehouse,
        alert_outbox,
    ],
    jobs=[warehouse_job, alerts_job],
    schedules=[warehouse_job_schedule],
    sensors=[landing_files_sensor, budget_threshold_sensor],
    resources={
        "dbt": dbt_resource(),
        "warehouse": WarehouseResource(),
        "slack": SlackResource(),
        "webhook": WebhookResource(),
    },
)
