"""`lake_events`: landing files and a dead HTTP loader's WAL segments into the lake."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from orchestration.assets import lake_events
from orchestration.resources import WarehouseResource
from tests.conftest import jsonl, make_event

RESOURCES = {"warehouse": WarehouseResource()}


def events(prefix: str, n: int) -> bytes:
    return jsonl([make_event(event_id=f"{prefix}-{i}") for i in range(n)])


def test_loads_landing_files_and_leftover_wal_segments(
    data_dir: Path, landing: Path, instance: dg.DagsterInstance
) -> None:
    (landing / "batch.jsonl").write_bytes(events("file", 3) + b"not json\n")
    wal = data_dir / "wal"
    wal.mkdir()
    (wal / "20261125T100000000000-1-000001.jsonl").write_bytes(events("wal", 2))

    result = dg.materialize([lake_events], resources=RESOURCES, instance=instance)
    assert result.success
    meta = result.asset_materializations_for_node("lake_events")[0].metadata
    assert (meta["accepted"].value, meta["quarantined"].value) == (5, 1)
    assert (meta["landing_files_loaded"].value, meta["wal_segments_flushed"].value) == (1, 1)
    assert list(wal.glob("*.jsonl")) == []  # in the lake now, deleted as the server would

    again = dg.materialize([lake_events], resources=RESOURCES, instance=instance)
    meta = again.asset_materializations_for_node("lake_events")[0].metadata
    assert (meta["accepted"].value, meta["landing_files_skipped"].value) == (0, 1)
