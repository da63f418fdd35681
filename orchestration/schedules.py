"""`warehouse_job_schedule`: the pipeline every minute by default ($AGENTOPS_SCHEDULE_CRON)."""

# No `from __future__ import annotations` here: Dagster reads the annotations of decorated
# functions (context and resource parameters) as real types when the definitions load.

import time
from pathlib import Path

import dagster as dg

from orchestration.jobs import warehouse_job
from orchestration.resources import WarehouseResource
from orchestration.sensors import active_run_id, landing_state
from orchestration.settings import Settings


def _newest_mtime(paths: list[Path]) -> float:
    newest = 0.0
    for p in paths:
        try:
            newest = max(newest, p.stat().st_mtime)
        except OSError:  # removed since listed
            continue
    return newest


def new_inputs_since(
    warehouse: WarehouseResource, since: float, grace_seconds: float
) -> str | None:
    """What changed after `since` that the published warehouse may not include, or None.

    Inputs: complete landing files, WAL segments, Parquet the HTTP loader flushed into the
    lake, and the alert outbox snapshot (dbt's `outbox.alerts` source).
    """
    base = warehouse.base()
    landing = warehouse.landing_dir
    files = [landing / rel for rel, _, _ in landing_state(landing, time.time(), grace_seconds)]
    checks = {
        "landing files": files,
        "WAL segments": sorted(warehouse.wal_dir.rglob("*.jsonl"))
        if warehouse.wal_dir.is_dir()
        else [],
        "lake events": sorted((base / "lake" / "events").rglob("*.parquet")),
        "alert outbox": [warehouse.outbox_snapshot_path],
    }
    changed = [name for name, paths in checks.items() if _newest_mtime(paths) > since]
    return ", ".join(changed) if changed else None


@dg.schedule(
    name="warehouse_job_schedule",
    cron_schedule=Settings.from_env().schedule_cron,
    job=warehouse_job,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    execution_timezone="UTC",
    description=(
        "Runs warehouse_job on $AGENTOPS_SCHEDULE_CRON (default every minute) so spend is near "
        "real time. A tick skips while a warehouse_job run is queued or running, and when "
        "nothing arrived since the last successful run started, unless that was more than "
        "$AGENTOPS_MAX_STALENESS_SECONDS (600) ago."
    ),
)
def warehouse_job_schedule(
    context: dg.ScheduleEvaluationContext, warehouse: WarehouseResource
) -> dg.RunRequest | dg.SkipReason:
    settings = Settings.from_env()
    running = active_run_id(context.instance, warehouse_job.name)
    if running:
        return dg.SkipReason(f"warehouse_job run {running} is still in progress")
    records = context.instance.get_run_records(
        filters=dg.RunsFilter(job_name=warehouse_job.name, statuses=[dg.DagsterRunStatus.SUCCESS]),
        limit=1,
    )
    if not records:
        reason = "no successful run yet"
    elif settings.max_staleness_seconds <= 0:
        reason = "every tick"
    else:
        last = records[0]
        # What changed after the last good run *started* may be missing from its build.
        since = last.start_time or last.create_timestamp.timestamp()
        changed = new_inputs_since(warehouse, since, settings.landing_grace_seconds)
        if changed:
            reason = f"new {changed}"
        elif time.time() - since >= settings.max_staleness_seconds:
            reason = "refresh"
        else:
            return dg.SkipReason(
                f"nothing new since warehouse_job run {last.dagster_run.run_id} started"
            )
    tick = context.scheduled_execution_time
    return dg.RunRequest(
        run_key=f"schedule-{tick:%Y%m%dT%H%M%SZ}" if tick else None,
        tags={"agentops/trigger": "schedule", "agentops/reason": reason},
    )
