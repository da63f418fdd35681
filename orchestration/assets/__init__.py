"""The pipeline's assets: lake_events -> dbt models -> published_warehouse; alert_outbox."""

from orchestration.assets.dbt import WarehouseDbtTranslator, warehouse_dbt_models
from orchestration.assets.ingestion import lake_events
from orchestration.assets.publish import alert_outbox, published_warehouse

__all__ = [
    "WarehouseDbtTranslator",
    "alert_outbox",
    "lake_events",
    "published_warehouse",
    "warehouse_dbt_models",
]
