"""The whole pipeline on generated data: `dg.materialize` of load -> dbt build -> publish.

Slow (two real dbt builds), so everything that needs a real warehouse is checked here once:
the marts exist and hold the generated events, the alert keys dbt and the sensor compute
agree, and an alert delivered to (fake) Slack comes back through the landing folder and the
outbox snapshot into fct_alerts, as sent.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from ingestion.synthetic.generator import GeneratorConfig, generate_lines, write_jsonl
from orchestration.alerts.keys import budget_alert_key
from orchestration.alerts.readers import read_budget_periods
from orchestration.alerts.rules import threshold_alerts
from orchestration.assets import (
    alert_outbox,
    budget_alerts,
    budgets_reference,
    lake_events,
    published_warehouse,
    warehouse_dbt_models,
    warehouse_seeds,
)
from orchestration.resources import WarehouseResource, build_resources
from orchestration.sensors import budget_threshold_sensor
from tests.orchestration.slack_server import FakeSlack

MARTS = {
    "fct_events", "fct_runs", "fct_model_calls", "fct_cost_ledger", "agg_usage_hourly",
    "agg_usage_daily", "fct_failures", "fct_policy_decisions", "budget_status", "fct_alerts",
}  # fmt: skip
PIPELINE = [
    lake_events,
    budgets_reference,
    warehouse_seeds,
    warehouse_dbt_models,
    published_warehouse,
]


@pytest.mark.slow
@pytest.mark.usefixtures("fast_alerts")
def test_materialize_whole_pipeline_on_generated_data(
    data_dir: Path, instance: dg.DagsterInstance, slack: FakeSlack
) -> None:
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    config = GeneratorConfig.last_days(1, now=now, seed=7, tenants=3, runs_per_day=300)
    generated = write_jsonl(generate_lines(config), data_dir / "landing" / "day.jsonl")
    resources = build_resources()

    result = dg.materialize(PIPELINE, resources=resources, instance=instance)
    assert result.success
    loaded = result.asset_materializations_for_node("lake_events")[0].metadata
    assert loaded["accepted"].value == generated.valid > 0
    published = data_dir / "warehouse.duckdb"
    with duckdb.connect(str(published), read_only=True) as con:
        tables = con.execute(
            "select table_name from information_schema.tables where table_schema = 'marts'"
        ).fetchall()
        assert {t for (t,) in tables} >= MARTS
        assert con.execute("select count(*) from marts.fct_events").fetchone() == (generated.valid,)
        keys = con.execute(
            "select tenant_id, budget_id, period_start, highest_threshold_crossed,"
            " alert_dedupe_key from marts.budget_status"
        ).fetchall()
        periods = read_budget_periods(con)
    assert len(keys) == len(periods) == 2 * 6  # six sample budgets, current and previous
    for tenant_id, budget_id, start, highest, key in keys:
        expected = (
            None if highest is None else budget_alert_key(tenant_id, budget_id, start, highest)
        )
        assert key == expected

    # The sensor on the real warehouse reads it without a write, and asks for a run when the
    # generated spend calls for alerts.
    with dg.build_sensor_context(instance=instance, resources=resources) as ctx:
        tick = budget_threshold_sensor(ctx)
    assert isinstance(tick, dg.SensorResult) and tick.cursor
    # Plus one alert we know: acme-daily's current period crossing 50%, as budget_alerts
    # would record it; delivered to Slack, it comes back as events and as outbox state.
    acme = next(p for p in periods if p.budget_id == "acme-daily" and p.period_kind == "current")
    (alert,) = threshold_alerts([dataclasses.replace(acme, thresholds_crossed=(50.0,))], [])
    WarehouseResource().outbox.enqueue([alert], now.timestamp())
    alerts = dg.materialize([budget_alerts, alert_outbox], resources=resources, instance=instance)
    assert alerts.success
    assert any("crossed 50% of its limit" in t for t in slack.delivered_texts())

    # Rebuild only what fct_alerts needs (a second full build would double this test's time).
    alerts_part = (
        dg.AssetSelection.keys(dg.AssetKey(["marts", "fct_alerts"])).upstream()
        | dg.AssetSelection.assets(published_warehouse)
    ) - dg.AssetSelection.assets("alert_outbox", *warehouse_seeds.keys)
    second = dg.materialize(PIPELINE, resources=resources, instance=instance, selection=alerts_part)
    assert second.success
    with duckdb.connect(str(published), read_only=True) as con:
        row = con.execute(
            "select alert_source, budget_id, threshold, destination, delivery_status,"
            " delivery_attempts, event_count from marts.fct_alerts where dedupe_key = ?",
            [alert.dedupe_key],
        ).fetchone()
    assert row == (
        "budget.threshold_hit", "acme-daily", 50.0, "slack:#acme-finance", "sent", 1, 2,
    )  # fmt: skip  # one alert: its budget.threshold_hit and alert.emitted events
    with duckdb.connect(str(published), read_only=True) as con:
        # fct_runs is not in this partial build; the run's events are (staging is current).
        runs = con.execute(
            "select event_type, run_status, count(distinct run_id) from staging.stg_lake__events"
            " where agent_id = 'agentops-alerts' group by all order by all"
        ).fetchall()
    # One run per alert, closed by its run.completed: fct_runs shows it succeeded, not running.
    assert runs == [
        ("alert.emitted", None, 1),
        ("budget.threshold_hit", None, 1),
        ("run.completed", "succeeded", 1),
    ]
