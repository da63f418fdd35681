"""Sensors: `landing_files_sensor` (new landing files) and `budget_threshold_sensor`."""

# No `from __future__ import annotations` here: Dagster reads the annotations of decorated
# functions (context and resource parameters) as real types when the definitions load.

import hashlib
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from orchestration.alerts.delivery import Router
from orchestration.alerts.keys import short_hash
from orchestration.alerts.readers import (
    budgets_as_of,
    read_budget_periods,
    read_workflow_health,
)
from orchestration.alerts.rules import Alert, forecast_alerts, reliability_alerts, threshold_alerts
from orchestration.jobs import alerts_job, warehouse_job
from orchestration.resources import SlackResource, WarehouseResource, WebhookResource
from orchestration.settings import Settings

_SETTINGS = Settings.from_env()  # intervals are fixed when the definitions load
ACTIVE_STATUSES = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def active_run_id(instance: dg.DagsterInstance, job_name: str) -> str | None:
    """A queued or running run of `job_name`, if any."""
    records = instance.get_run_records(
        filters=dg.RunsFilter(job_name=job_name, statuses=ACTIVE_STATUSES), limit=1
    )
    return records[0].dagster_run.run_id if records else None


# --- landing folder -----------------------------------------------------------------------


def is_complete(path: Path, size: int, mtime: float, now: float, grace_seconds: float) -> bool:
    """A landing file the loader would load whole: gzip (written whole), a JSONL file whose
    last line ends with a newline, or one unchanged for `grace_seconds`."""
    if size == 0:
        return False
    if path.name.endswith(".gz") or now - mtime >= grace_seconds:
        return True
    try:
        with open(path, "rb") as fh:
            fh.seek(-1, 2)
            return fh.read(1) == b"\n"
    except OSError:
        return False


def landing_state(landing: Path, now: float, grace_seconds: float) -> list[tuple[str, int, int]]:
    """(relative path, size, mtime_ns) of every complete landing file, in path order.

    Hidden files and other suffixes (`.part`, `.tmp`) are writes in progress and not looked at.
    """
    if not landing.is_dir():
        return []
    out: list[tuple[str, int, int]] = []
    for p in landing.rglob("*"):
        if not p.name.endswith((".jsonl", ".jsonl.gz")) or p.name.startswith("."):
            continue
        try:
            st = p.stat()
        except OSError:  # removed since listed
            continue
        if p.is_file() and is_complete(p, st.st_size, st.st_mtime, now, grace_seconds):
            out.append((str(p.relative_to(landing)), st.st_size, st.st_mtime_ns))
    return sorted(out)


def state_fingerprint(state: list[tuple[str, int, int]]) -> str:
    return hashlib.sha256(json.dumps(state).encode()).hexdigest()[:20]


@dg.sensor(
    name="landing_files_sensor",
    job=warehouse_job,
    minimum_interval_seconds=_SETTINGS.landing_sensor_seconds,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Starts warehouse_job when complete JSONL files appear or grow in "
        "$AGENTOPS_DATA_DIR/landing/. Cursor: a fingerprint of the complete files' names, "
        "sizes and mtimes; the run key is that fingerprint."
    ),
)
def landing_files_sensor(
    context: dg.SensorEvaluationContext, warehouse: WarehouseResource
) -> dg.SensorResult:
    settings = Settings.from_env()
    landing = warehouse.landing_dir
    state = landing_state(landing, time.time(), settings.landing_grace_seconds)
    if not state:
        return dg.SensorResult(
            skip_reason=dg.SkipReason(f"no complete files in {landing}"), cursor=context.cursor
        )
    fingerprint = state_fingerprint(state)
    if fingerprint == context.cursor:
        return dg.SensorResult(
            skip_reason=dg.SkipReason("no new complete files since the last run request"),
            cursor=fingerprint,
        )
    running = active_run_id(context.instance, warehouse_job.name)
    if running:
        # Keep the cursor: the files are requested once that run is done, not queued behind it.
        return dg.SensorResult(
            skip_reason=dg.SkipReason(f"new files wait for warehouse_job run {running} to finish"),
            cursor=context.cursor,
        )
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=f"landing-{fingerprint}",
                tags={"agentops/trigger": "landing", "agentops/landing_files": str(len(state))},
            )
        ],
        cursor=fingerprint,
    )


# --- budgets and reliability --------------------------------------------------------------


def evaluate_alerts(warehouse: WarehouseResource, settings: Settings) -> list[Alert]:
    """Every alert the published warehouse calls for, already known ones included."""
    with warehouse.read_only() as con:
        periods = read_budget_periods(con)
        as_of = budgets_as_of(periods, datetime.now(UTC))
        health = read_workflow_health(con, as_of)
    return [
        *threshold_alerts(periods, ()),
        *forecast_alerts(periods, (), settings.forecast_min_elapsed),
        *reliability_alerts(
            health,
            (),
            failure_rate=settings.reliability_failure_rate,
            min_runs=settings.reliability_min_runs,
            destination=settings.reliability_destination,
        ),
    ]


def _load_cursor(raw: str | None) -> dict[str, str]:
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


NOTHING_TO_DO = "no new alerts and none due for delivery"


@dg.sensor(
    name="budget_threshold_sensor",
    job=alerts_job,
    minimum_interval_seconds=_SETTINGS.alert_sensor_seconds,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "After each publish, reads marts.budget_status (and fct_runs) and records every newly "
        "crossed budget threshold, forecast overrun and workflow failure-rate alert in the "
        "outbox; requests an alerts_job run when alerts are new or due for a retry. Cursor: "
        "the published warehouse last evaluated; the run key: the alerts the run is for."
    ),
)
def budget_threshold_sensor(
    context: dg.SensorEvaluationContext,
    warehouse: WarehouseResource,
    slack: SlackResource,
    webhook: WebhookResource,
) -> dg.SensorResult:
    settings = Settings.from_env()
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
        candidates = evaluate_alerts(warehouse, settings)
        known = outbox.known_keys(a.dedupe_key for a in candidates)
        # Recorded before anything is sent: from here on the key exists exactly once.
        new_keys = outbox.enqueue([a for a in candidates if a.dedupe_key not in known], now)
        for key in new_keys:
            context.log.info(f"new alert {key}")
    router = Router(slack.webhook_url(), webhook.url(), settings)
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
    state = json.dumps([sorted(new_keys), sorted((r.dedupe_key, r.attempts) for r in retries)])
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
