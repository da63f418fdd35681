"""`landing_files_sensor` and `lake_commits_sensor`: exact run requests, asset events and
skip reasons."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import dagster as dg

from ingestion.settings import DBT_PROJECT_DIR
from orchestration.assets import lake_events
from orchestration.definitions import defs
from orchestration.resources import WarehouseResource
from orchestration.sensors import lake_commits_sensor, landing_files_sensor
from orchestration.sensors.inputs import landing_state
from tests.conftest import jsonl, make_event

RESOURCES = {"warehouse": WarehouseResource()}
WAREHOUSE_JOB = defs.resolve_job_def("warehouse_job").asset_layer.selected_asset_keys
# The seed files of the dbt project, as the asset keys dagster-dbt gives them.
SEEDS = {dg.AssetKey(["seeds", p.stem]) for p in (DBT_PROJECT_DIR / "seeds").glob("*.csv")}


def tick(instance: dg.DagsterInstance, cursor: str | None) -> dg.SensorResult:
    ctx = dg.build_sensor_context(instance=instance, cursor=cursor, resources=RESOURCES)
    result = landing_files_sensor(ctx)
    assert isinstance(result, dg.SensorResult)
    return result


def fingerprint(landing: Path) -> str:
    """The cursor the sensor must store, computed independently of its code."""
    state = sorted(
        (str(p.relative_to(landing)), p.stat().st_size, p.stat().st_mtime_ns)
        for p in landing.rglob("*.jsonl")
        if not p.name.startswith(".")
    )
    return hashlib.sha256(json.dumps([list(s) for s in state]).encode()).hexdigest()[:20]


def start_run(
    instance: dg.DagsterInstance,
    job_name: str,
    status: dg.DagsterRunStatus = dg.DagsterRunStatus.STARTED,
) -> str:
    run = dg.DagsterRun(job_name=job_name, status=status)
    instance.add_run(run)
    return run.run_id


def test_empty_landing_folder_skips(landing: Path, instance: dg.DagsterInstance) -> None:
    result = tick(instance, None)
    assert result.run_requests == []
    assert result.skip_reason == dg.SkipReason(f"no complete files in {landing}")


def test_new_complete_file_requests_one_run_then_nothing(
    landing: Path, instance: dg.DagsterInstance
) -> None:
    (landing / "a.jsonl").write_bytes(b'{"event_id": "x"}\n')
    (landing / ".b.jsonl.part").write_bytes(b"being written")  # ignored
    first = tick(instance, None)
    fp = fingerprint(landing)
    assert first.run_requests == [
        dg.RunRequest(
            run_key=f"landing-{fp}",
            tags={"agentops/trigger": "landing", "agentops/landing_files": "1"},
            asset_selection=first.run_requests[0].asset_selection,
        )
    ]
    # No build database yet: the run loads the seeds too, so the models find them.
    assert set(first.run_requests[0].asset_selection or []) == WAREHOUSE_JOB
    assert first.cursor == fp
    again = tick(instance, first.cursor)
    assert again.run_requests == []
    assert again.skip_reason == dg.SkipReason("no new complete files since the last run request")

    (landing / "sub").mkdir()
    (landing / "sub" / "b.jsonl").write_bytes(b'{"event_id": "y"}\n')
    third = tick(instance, again.cursor)
    assert [r.run_key for r in third.run_requests] == [f"landing-{fingerprint(landing)}"]
    assert third.cursor != first.cursor


def test_a_file_still_being_written_waits_for_its_newline_or_the_grace_period(
    landing: Path, instance: dg.DagsterInstance
) -> None:
    partial = landing / "live.jsonl"
    partial.write_bytes(b'{"event_id": "x"}\n{"event_id": "half')
    assert tick(instance, None).run_requests == []
    old = time.time() - 120  # unchanged for longer than the 60 s grace: complete
    os.utime(partial, (old, old))
    assert landing_state(landing, time.time(), 60.0) == [
        ("live.jsonl", partial.stat().st_size, partial.stat().st_mtime_ns)
    ]
    assert len(tick(instance, None).run_requests) == 1


def test_new_files_wait_while_a_warehouse_run_is_in_progress(
    landing: Path, instance: dg.DagsterInstance
) -> None:
    (landing / "a.jsonl").write_bytes(b"{}\n")
    run_id = start_run(instance, "warehouse_job")
    result = tick(instance, "previous")
    assert result.run_requests == []
    assert result.skip_reason == dg.SkipReason(
        f"new files wait for warehouse_job run {run_id} to finish"
    )
    assert result.cursor == "previous"  # not consumed: requested once the run is done


def test_with_a_build_database_the_seeds_are_left_to_their_own_automation(
    data_dir: Path, landing: Path, instance: dg.DagsterInstance
) -> None:
    (data_dir / "build").mkdir()
    (data_dir / "build" / "warehouse_build.duckdb").touch()
    (landing / "a.jsonl").write_bytes(b"{}\n")
    (request,) = tick(instance, None).run_requests
    assert SEEDS and SEEDS <= WAREHOUSE_JOB
    assert set(request.asset_selection or []) == WAREHOUSE_JOB - SEEDS


def test_write_ahead_segments_of_a_stopped_server_are_loaded(
    data_dir: Path, landing: Path, instance: dg.DagsterInstance
) -> None:
    wal = data_dir / "wal"
    wal.mkdir()
    running = wal / f"20261125T100000000000-{os.getpid()}-000001.jsonl"  # this process: alive
    running.write_bytes(b"{}\n")
    assert tick(instance, None).skip_reason == dg.SkipReason(f"no complete files in {landing}")
    dead = wal / "20261125T100000000000-999999999-000001.jsonl"  # no such process
    dead.write_bytes(b"{}\n{}\n")
    (request,) = tick(instance, None).run_requests
    state = [["wal/" + dead.name, dead.stat().st_size, dead.stat().st_mtime_ns]]
    assert (
        request.run_key == f"landing-{hashlib.sha256(json.dumps(state).encode()).hexdigest()[:20]}"
    )
    assert request.tags == {
        "agentops/trigger": "landing",
        "agentops/landing_files": "0",
        "agentops/wal_segments": "1",
    }


# --- lake commits -------------------------------------------------------------------------


def commits_tick(instance: dg.DagsterInstance, cursor: str | None) -> dg.SensorResult:
    ctx = dg.build_sensor_context(instance=instance, cursor=cursor, resources=RESOURCES)
    result = lake_commits_sensor(ctx)
    assert isinstance(result, dg.SensorResult)
    return result


def commit(data_dir: Path, load_id: str) -> None:
    """A lake commit as the loaders write it: the load's record under lake/_loads/."""
    loads = data_dir / "lake" / "_loads"
    loads.mkdir(parents=True, exist_ok=True)
    (loads / f"{load_id}.json").write_text("{}")


def test_lake_commits_of_the_http_loader_are_recorded_as_lake_events(
    data_dir: Path, instance: dg.DagsterInstance
) -> None:
    empty = commits_tick(instance, None)
    assert empty.skip_reason == dg.SkipReason("no load committed to the lake yet")
    commit(data_dir, "L20261125T100000000000_aaaaaa")
    commit(data_dir, "L20261125T100500000000_bbbbbb")
    first = commits_tick(instance, None)
    assert first.run_requests == [] and first.cursor == "L20261125T100500000000_bbbbbb"
    (event,) = first.asset_events
    assert event.asset_key == dg.AssetKey("lake_events")
    assert event.metadata["lake_commit"] == dg.TextMetadataValue("L20261125T100500000000_bbbbbb")
    again = commits_tick(instance, first.cursor)
    assert again.asset_events == []
    assert again.skip_reason == dg.SkipReason("no lake commit since L20261125T100500000000_bbbbbb")


def test_commits_a_lake_events_run_made_are_not_recorded_twice(
    data_dir: Path, landing: Path, instance: dg.DagsterInstance
) -> None:
    (landing / "batch.jsonl").write_bytes(jsonl([make_event(event_id="e-1")]))
    assert dg.materialize([lake_events], resources=RESOURCES, instance=instance).success
    (load_id,) = [p.stem for p in (data_dir / "lake" / "_loads").glob("*.json")]
    result = commits_tick(instance, None)
    assert result.asset_events == []
    assert result.skip_reason == dg.SkipReason(f"lake_events already recorded commit {load_id}")
    assert result.cursor == load_id
    commit(data_dir, "L29991231T000000000000_cccccc")  # then the HTTP loader commits
    (event,) = commits_tick(instance, result.cursor).asset_events
    assert event.metadata["lake_commit"] == dg.TextMetadataValue("L29991231T000000000000_cccccc")
