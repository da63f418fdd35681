"""Sensors on what arrives: `landing_files_sensor` (files to load) and `lake_commits_sensor`
(loads the HTTP loader commits to the lake by itself)."""

# No `from __future__ import annotations` here: Dagster reads the annotations of decorated
# functions (context and resource parameters) as real types when the definitions load.

import hashlib
import json
import time
from pathlib import Path

import dagster as dg

from ingestion.http.wal import orphaned_segments
from orchestration.assets import (
    budgets_reference,
    lake_events,
    published_warehouse,
    warehouse_dbt_models,
    warehouse_seeds,
)
from orchestration.assets.ingestion import LAKE_COMMIT, newest_commit
from orchestration.jobs import warehouse_job
from orchestration.resources import WarehouseResource
from orchestration.warehouse.build import build_db_path

LANDING_SENSOR_SECONDS = 5
LAKE_COMMITS_SENSOR_SECONDS = 5
ACTIVE_STATUSES = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]
# What a landing run materializes: all of warehouse_job but the seeds, which load only into a
# build database that has none (they change with the code; their own automation reloads them).
LANDING_RUN_KEYS = [
    *lake_events.keys,
    *budgets_reference.keys,
    *warehouse_dbt_models.keys,
    *published_warehouse.keys,
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


def wal_state(wal_dir: Path) -> list[tuple[str, int, int]]:
    """Like `landing_state`, for the write-ahead segments a stopped HTTP loader left."""
    out = []
    for p in orphaned_segments(wal_dir):
        try:
            st = p.stat()
        except OSError:  # flushed since listed
            continue
        out.append((f"wal/{p.name}", st.st_size, st.st_mtime_ns))
    return out


def state_fingerprint(state: list[tuple[str, int, int]]) -> str:
    return hashlib.sha256(json.dumps(state).encode()).hexdigest()[:20]


@dg.sensor(
    name="landing_files_sensor",
    job=warehouse_job,
    minimum_interval_seconds=LANDING_SENSOR_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Starts warehouse_job when complete JSONL files appear or grow in "
        "$AGENTOPS_DATA_DIR/landing/, or a stopped HTTP loader left write-ahead segments in "
        "wal/. Cursor: a fingerprint of those files' names, sizes and mtimes; the run key is "
        "that fingerprint."
    ),
)
def landing_files_sensor(
    context: dg.SensorEvaluationContext, warehouse: WarehouseResource
) -> dg.SensorResult:
    landing = warehouse.landing_dir
    files = landing_state(landing, time.time(), warehouse.landing_grace_seconds)
    wal = wal_state(warehouse.wal_dir)
    if not files and not wal:
        return dg.SensorResult(
            skip_reason=dg.SkipReason(f"no complete files in {landing}"), cursor=context.cursor
        )
    fingerprint = state_fingerprint(files + wal)
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
    tags = {"agentops/trigger": "landing", "agentops/landing_files": str(len(files))}
    if wal:
        tags["agentops/wal_segments"] = str(len(wal))
    keys = list(LANDING_RUN_KEYS)
    if not build_db_path(warehouse.base()).exists():
        keys += warehouse_seeds.keys
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(run_key=f"landing-{fingerprint}", tags=tags, asset_selection=keys)
        ],
        cursor=fingerprint,
    )


# --- lake commits -------------------------------------------------------------------------


@dg.sensor(
    name="lake_commits_sensor",
    minimum_interval_seconds=LAKE_COMMITS_SENSOR_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Records a materialization of lake_events when the lake has a commit no lake_events "
        "run recorded: the HTTP loader's, which commits by itself. The dbt models, eager, then "
        "rebuild. Cursor: the latest commit seen."
    ),
)
def lake_commits_sensor(
    context: dg.SensorEvaluationContext, warehouse: WarehouseResource
) -> dg.SensorResult:
    newest = newest_commit(warehouse.base())
    if newest is None:
        return dg.SensorResult(skip_reason=dg.SkipReason("no load committed to the lake yet"))
    if newest == context.cursor:
        return dg.SensorResult(
            skip_reason=dg.SkipReason(f"no lake commit since {newest}"), cursor=newest
        )
    event = context.instance.get_latest_materialization_event(lake_events.key)
    recorded = event.asset_materialization.metadata.get(LAKE_COMMIT) if event else None
    if recorded is not None and newest <= str(recorded.value):
        return dg.SensorResult(
            skip_reason=dg.SkipReason(f"lake_events already recorded commit {newest}"),
            cursor=newest,
        )
    materialization = dg.AssetMaterialization(
        asset_key=lake_events.key,
        description="loads committed to the lake by the HTTP loader",
        metadata={LAKE_COMMIT: newest},
    )
    return dg.SensorResult(asset_events=[materialization], cursor=newest)
