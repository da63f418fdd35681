"""Sensors that start alert runs: `budget_threshold_sensor` (budgets and workflows in the
published warehouse, alerts due for a retry) and `run_failure_sensor` (failed pipeline runs).

Neither writes anything while it is evaluated: the runs they request record the alerts in the
outbox and deliver them, so a tick evaluated twice asks twice and alerts once.
"""

# No `from __future__ import annotations` here: Dagster reads the annotations of decorated
# functions (context and resource parameters) as real types when the definitions load.

import json
import time
from datetime import UTC, datetime

import dagster as dg
from dagster_duckdb import DuckDBResource

from orchestration.alerts.delivery import Router, parse_routes
from orchestration.alerts.keys import short_hash
from orchestration.alerts.readers import alerts_called_for
from orchestration.assets import alert_outbox
from orchestration.assets.alerts import DeliveryConfig, FailedRun
from orchestration.jobs import alerts_job
from orchestration.resources import (
    AlertsResource,
    SlackResource,
    WarehouseResource,
    WebhookResource,
)

ALERT_SENSOR_SECONDS = 10
NOTHING_TO_DO = "no new alerts and none due for delivery"
# The tag of a run that delivers a run-failure alert; its own failure is not alerted again
# (its webhook may be what fails: alerting through it would loop).
FAILED_RUN_TAG = "agentops/failed_run"


def _load_cursor(raw: str | None) -> dict[str, str]:
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


@dg.sensor(
    name="budget_threshold_sensor",
    job=alerts_job,
    minimum_interval_seconds=ALERT_SENSOR_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "After each publish, reads marts.budget_status (and fct_runs) read-only and requests an "
        "alerts_job run when a budget threshold is newly crossed, a budget is on track to "
        "exceed its limit or a workflow's failure rate passes its level, or when earlier "
        "alerts are due for a retry. Cursor: the published warehouse last evaluated; the run "
        "key: the alerts the run is for."
    ),
)
def budget_threshold_sensor(
    context: dg.SensorEvaluationContext,
    warehouse: WarehouseResource,
    published: DuckDBResource,
    slack: SlackResource,
    webhook: WebhookResource,
    alerts: AlertsResource,
) -> dg.SensorResult:
    cursor = _load_cursor(context.cursor)
    version = warehouse.published_version()
    if version is None:
        return dg.SensorResult(
            skip_reason=dg.SkipReason(f"no published warehouse at {warehouse.published_path}"),
            cursor=context.cursor,
        )
    outbox = warehouse.outbox
    now = time.time()
    new_keys: list[str] = []
    if version != cursor.get("published"):
        with published.get_connection() as con:
            found = alerts_called_for(con, alerts, datetime.now(UTC))
        known = outbox.known_keys(a.dedupe_key for a in found)
        new_keys = sorted({a.dedupe_key for a in found} - known)
        for key in new_keys:
            context.log.info(f"new alert {key}")
    router = Router(slack.webhook_url, webhook.url, alerts, parse_routes(slack.routes))
    fresh = set(new_keys)
    retries = [
        r
        for r in outbox.due(now)
        if r.dedupe_key not in fresh and router.route(r.alert.destination).problem is None
    ]
    next_cursor = json.dumps({"published": version})
    if not new_keys and not retries:
        return dg.SensorResult(skip_reason=dg.SkipReason(NOTHING_TO_DO), cursor=next_cursor)
    # Deterministic: the same new alerts, and the same retries at the same attempt count, are
    # one run; a retry after a failed attempt has a higher count, hence a new key.
    state = json.dumps([new_keys, sorted((r.dedupe_key, r.attempts) for r in retries)])
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=f"alerts-{short_hash(state, 10)}",
                tags={
                    "agentops/new_alerts": str(len(new_keys)),
                    "agentops/retry_alerts": str(len(retries)),
                },
            )
        ],
        cursor=next_cursor,
    )


def failure_text(context: dg.RunFailureSensorContext) -> str:
    """What failed: the run's failure message and each failed step's error."""
    parts = [context.failure_event.message or "the run failed"]
    for step in context.get_step_failure_events():
        data = step.step_failure_data
        error = data.user_failure_data.description if data.user_failure_data else None
        if not error and data.error is not None:
            error = data.error.message.strip()
        parts.append(f"{step.step_key}: {error or 'failed'}")
    return "\n".join(parts)


@dg.run_failure_sensor(
    name="run_failure_sensor",
    request_job=alerts_job,
    minimum_interval_seconds=ALERT_SENSOR_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "When a run of this code location fails, requests an alerts_job run that records a "
        "`pipeline_run_failure` alert in the outbox and delivers it like every other alert "
        "($AGENTOPS_RUN_FAILURE_DESTINATION, default slack:#agentops-alerts). A failed run "
        "that was delivering such an alert is not alerted again."
    ),
)
def run_failure_sensor(context: dg.RunFailureSensorContext) -> dg.RunRequest | dg.SkipReason:
    run = context.dagster_run
    if FAILED_RUN_TAG in run.tags:
        return dg.SkipReason(
            f"run {run.run_id} was delivering the alert of failed run {run.tags[FAILED_RUN_TAG]}"
        )
    record = context.instance.get_run_record_by_id(run.run_id)
    failed = FailedRun(
        run_id=run.run_id,
        job_name=run.job_name,
        error=failure_text(context),
        failed_at=(record.end_time if record else None) or time.time(),
    )
    return dg.RunRequest(
        run_key=f"run-failure-{run.run_id}",
        asset_selection=list(alert_outbox.keys),
        run_config=dg.RunConfig(ops={"alert_outbox": DeliveryConfig(failed_runs=[failed])}),
        tags={FAILED_RUN_TAG: run.run_id},
    )
