"""The pipeline's assets: lake_events, budgets_reference -> dbt models -> published_warehouse;
alert_outbox."""

from orchestration.assets.dbt import WarehouseDbtTranslator, warehouse_dbt_models
from orchestration.assets.ingestion import lake_events
from orchestration.assets.publish import alert_outbox, published_warehouse
from orchestration.assets.reference import budgets_reference

__all__ = [
    "WarehouseDbtTranslator",
    "alert_outbox",
    "budgets_reference",
    "lake_events",
    "published_warehouse",
    "warehouse_dbt_models",
]
