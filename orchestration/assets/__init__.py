"""The pipeline's assets: lake_events, budgets_reference, seeds -> dbt models ->
published_warehouse; budget_alerts -> alert_outbox."""

from orchestration.assets.alerts import alert_outbox, budget_alerts
from orchestration.assets.dbt import WarehouseDbtTranslator, warehouse_dbt_models, warehouse_seeds
from orchestration.assets.ingestion import lake_events
from orchestration.assets.publish import published_warehouse
from orchestration.assets.reference import budgets_reference

ASSETS = [
    lake_events,
    budgets_reference,
    warehouse_seeds,
    warehouse_dbt_models,
    published_warehouse,
    budget_alerts,
    alert_outbox,
]

__all__ = [
    "ASSETS",
    "WarehouseDbtTranslator",
    "alert_outbox",
    "budget_alerts",
    "budgets_reference",
    "lake_events",
    "published_warehouse",
    "warehouse_dbt_models",
    "warehouse_seeds",
]
