"""Recovering a stopped HTTP loader's write-ahead log: `flush_wal` leaves a running server's
segments alone and holds a torn last line back."""

from __future__ import annotations

import fcntl
from pathlib import Path

from ingestion.http.wal import flush_wal
from tests.conftest import jsonl, make_event


def events(prefix: str, n: int) -> bytes:
    return jsonl([make_event(event_id=f"{prefix}-{i}") for i in range(n)])


def test_wal_of_a_running_server_is_left_to_it(data_dir: Path) -> None:
    wal = data_dir / "wal"
    wal.mkdir()
    segment = wal / "20261125T100000000000-1-000001.jsonl"
    segment.write_bytes(events("wal", 2))
    with open(wal / ".lock", "ab") as held:  # what `agentops-wh serve` holds while it runs
        fcntl.flock(held, fcntl.LOCK_EX)
        result = flush_wal(data_dir)
    assert result.server_running and result.accepted == 0
    assert segment.exists()


def test_torn_last_line_is_held_back_and_the_segment_kept(data_dir: Path) -> None:
    wal = data_dir / "wal"
    wal.mkdir()
    segment = wal / "20261125T100000000000-1-000001.jsonl"
    segment.write_bytes(events("wal", 2) + b'{"event_id": "torn')
    result = flush_wal(data_dir)
    assert (result.accepted, result.quarantined, result.loaded) == (2, 0, 0)
    assert segment.exists()  # the next server cuts the unacknowledged tail off
