"""`run_failure_sensor`: a failed pipeline run is alerted through our own outbox and webhook
delivery, to the (fake) Slack, once; the run delivering it is not alerted on in turn."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from orchestration.alerts.keys import run_failure_alert_key
from orchestration.alerts.outbox import Outbox
from orchestration.assets import alert_outbox, budget_alerts, budgets_reference
from orchestration.resources import build_resources
from orchestration.sensors import run_failure_sensor
from orchestration.sensors.alerts import FAILED_RUN_TAG
from tests.orchestration.slack_server import NO_SERVICE, FakeSlack

HEADER = "budget_id,tenant_id,scope,scope_id,period,limit_usd,thresholds,enforcement,destination"
REFUSED = "line 2, destination: 'pager' is not a route"


def failed_run(
    instance: dg.DagsterInstance, assets: list, resources: dict, **kwargs: object
) -> dg.RunFailureSensorContext:
    """Materialize `assets` (which must fail) and the sensor context of that failure."""
    result = dg.materialize(
        assets, instance=instance, resources=resources, raise_on_error=False, **kwargs
    )
    assert not result.success
    run = instance.get_run_by_id(result.run_id)
    assert run is not None
    return dg.build_run_status_sensor_context(
        sensor_name="run_failure_sensor",
        dagster_instance=instance,
        dagster_run=run,
        dagster_event=result.get_run_failure_event(),
    ).for_run_failure()


@pytest.mark.usefixtures("fast_alerts")
def test_a_failed_run_is_alerted_through_the_outbox_to_slack(
    data_dir: Path,
    tmp_path: Path,
    slack: FakeSlack,
    instance: dg.DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    budgets = tmp_path / "budgets.csv"
    budgets.write_text(f"{HEADER}\nz,zeta,agent,bot,monthly,3.50,,alert,pager\n")
    monkeypatch.setenv("AGENTOPS_BUDGETS_FILE", str(budgets))
    resources = build_resources()
    context = failed_run(instance, [budgets_reference], resources)
    run_id = context.dagster_run.run_id

    request = run_failure_sensor(context)
    assert isinstance(request, dg.RunRequest)
    assert request.run_key == f"run-failure-{run_id}"
    assert request.tags == {FAILED_RUN_TAG: run_id}
    assert request.asset_selection == [dg.AssetKey("alert_outbox")]
    (failed,) = request.run_config["ops"]["alert_outbox"]["config"]["failed_runs"]
    assert (failed["run_id"], failed["job_name"]) == (run_id, "__ephemeral_asset_job__")
    assert REFUSED in failed["error"]
    outbox = Outbox(data_dir / "outbox" / "outbox.sqlite3")
    assert outbox.rows() == []  # the sensor wrote nothing: the run it asks for does

    delivery = dg.materialize(
        [budget_alerts, alert_outbox],
        selection=request.asset_selection,
        run_config=request.run_config,
        tags=request.tags,
        instance=instance,
        resources=resources,
    )
    assert delivery.success
    (row,) = outbox.rows()
    assert row.dedupe_key == run_failure_alert_key(run_id) == f"run_failure:{run_id}"
    assert (row.status, row.attempts, row.alert.destination) == (
        "sent", 1, "slack:#agentops-alerts",
    )  # fmt: skip
    (received,) = slack.received
    assert received.path == "/services/T0/B0/x"
    text = received.body["text"]
    assert text == f"Pipeline run {run_id} of __ephemeral_asset_job__ failed"
    assert REFUSED in received.body["blocks"][0]["text"]["text"]
    # About the pipeline, not a tenant's agents: no events for the lake.
    assert not (data_dir / "landing" / "_alerts").exists()


@pytest.mark.usefixtures("fast_alerts")
def test_a_failed_delivery_of_a_run_failure_is_not_alerted_again(
    data_dir: Path, slack: FakeSlack, instance: dg.DagsterInstance
) -> None:
    slack.reply_with(NO_SERVICE)  # the webhook itself is what fails
    resources = build_resources()
    config = {"failed_runs": [dict(run_id="r-1", job_name="j", error="e", failed_at=0.0)]}
    context = failed_run(
        instance,
        [budget_alerts, alert_outbox],
        resources,
        selection=[alert_outbox],
        run_config={"ops": {"alert_outbox": {"config": config}}},
        tags={FAILED_RUN_TAG: "r-1"},
    )
    assert run_failure_sensor(context) == dg.SkipReason(
        f"run {context.dagster_run.run_id} was delivering the alert of failed run r-1"
    )
    assert [r.status for r in slack.received] == [404]
