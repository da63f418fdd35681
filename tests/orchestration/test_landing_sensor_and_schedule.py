"""`landing_files_sensor` and `warehouse_job_schedule`: exact run requests and skip reasons."""

from __future__ import annotations

import hashlib
import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from orchestration.resources import WarehouseResource
from orchestration.schedules import warehouse_job_schedule
from orchestration.sensors import landing_files_sensor, landing_state

RESOURCES = {"warehouse": WarehouseResource()}


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
        )
    ]
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


# Schedule contexts re-open their instance from a reference, which an ephemeral instance
# cannot give; `instance_for_test` is the persistent (temporary-folder) equivalent. Both are
# entered as context managers: the re-opened instance sets a process-wide storage that must
# be reset, or later definitions loads in this process find a dead instance.
AT = datetime(2026, 11, 25, 10, 7, tzinfo=UTC)


def schedule_tick(instance: dg.DagsterInstance) -> dg.RunRequest | dg.SkipReason:
    with dg.build_schedule_context(
        instance=instance, scheduled_execution_time=AT, resources=RESOURCES
    ) as ctx:
        return warehouse_job_schedule(ctx)  # type: ignore[return-value]


def scheduled(reason: str) -> dg.RunRequest:
    return dg.RunRequest(
        run_key="schedule-20261125T100700Z",
        tags={"agentops/trigger": "schedule", "agentops/reason": reason},
    )


def test_schedule_runs_until_a_run_succeeded_then_only_for_new_inputs(landing: Path) -> None:
    assert warehouse_job_schedule.cron_schedule == "* * * * *"
    with dg.instance_for_test() as instance:
        assert schedule_tick(instance) == scheduled("no successful run yet")
        run_id = start_run(instance, "warehouse_job", dg.DagsterRunStatus.SUCCESS)
        assert schedule_tick(instance) == dg.SkipReason(
            f"nothing new since warehouse_job run {run_id} started"
        )
        new = landing / "new.jsonl"
        new.write_bytes(b"{}\n")
        later = time.time() + 2
        os.utime(new, (later, later))
        assert schedule_tick(instance) == scheduled("new landing files")


def test_schedule_can_run_on_every_tick(landing: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTOPS_MAX_STALENESS_SECONDS", "0")
    with dg.instance_for_test() as instance:
        start_run(instance, "warehouse_job", dg.DagsterRunStatus.SUCCESS)
        assert schedule_tick(instance) == scheduled("every tick")


def test_schedule_skips_while_a_warehouse_run_is_in_progress(landing: Path) -> None:
    with dg.instance_for_test() as instance:
        run_id = start_run(instance, "warehouse_job")
        start_run(instance, "alerts_job")  # other jobs do not matter
        assert schedule_tick(instance) == dg.SkipReason(
            f"warehouse_job run {run_id} is still in progress"
        )
