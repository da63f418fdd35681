"""The code location `make dagster` serves loads, with the pieces the issue names."""

from __future__ import annotations

import dagster as dg

from orchestration.definitions import defs


def test_definitions_load() -> None:
    dg.Definitions.validate_loadable(defs)
    repo = defs.get_repository_def()
    assert {j.name for j in repo.get_all_jobs()} >= {"warehouse_job", "alerts_job"}
    assert {s.name for s in repo.schedule_defs} == {"warehouse_job_schedule"}
    assert {s.name for s in repo.sensor_defs} == {"landing_files_sensor", "budget_threshold_sensor"}
    assert set(defs.resources or {}) == {"dbt", "warehouse", "slack", "webhook"}


def test_dbt_sources_are_keyed_to_the_ingestion_and_outbox_assets() -> None:
    graph = defs.resolve_asset_graph()
    staging = dg.AssetKey(["staging", "stg_lake__events"])
    assert dg.AssetKey("lake_events") in graph.get(staging).parent_keys
    outbox = dg.AssetKey(["staging", "stg_outbox__alerts"])
    assert dg.AssetKey("alert_outbox") in graph.get(outbox).parent_keys
    budgets = dg.AssetKey(["staging", "stg_reference__budgets"])
    assert dg.AssetKey("budgets_reference") in graph.get(budgets).parent_keys
    published = graph.get(dg.AssetKey("published_warehouse"))
    assert dg.AssetKey(["marts", "budget_status"]) in published.parent_keys
    job = defs.resolve_job_def("warehouse_job")
    keys = job.asset_layer.selected_asset_keys
    assert {
        dg.AssetKey("lake_events"),
        dg.AssetKey("budgets_reference"),
        dg.AssetKey("published_warehouse"),
    } <= keys
    assert dg.AssetKey(["marts", "fct_alerts"]) in keys
