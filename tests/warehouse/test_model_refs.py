"""Model references: genai-prices' own resolution, written before dbt, reused per release.

A build resolves only the (provider, model) pairs of loads it has not seen, asking genai-prices
about pairs the reference file does not already hold for the installed release. Shown by
editing `reference/model_refs.parquet` between two refreshes: a row stamped with the installed
release is kept as it is (it was not asked again), a row stamped with another release is
resolved afresh. dbt refuses to price calls whose pair was never resolved.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import genai_prices
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from genai_prices import data_snapshot

from ingestion.files.loader import load_paths
from ingestion.reference.model_refs import (
    COMMIT_COUNTS,
    loads_path,
    quarantine_files_path,
    refs_path,
    write_model_refs_reference,
)
from orchestration.warehouse import build as warehouse
from tests.warehouse.fixtures import make_fixture
from tests.warehouse.pricing_support import build_warehouse

pytestmark = pytest.mark.slow


def genai_resolution(provider: str | None, model: str | None) -> tuple[str | None, str | None]:
    """(provider id, model id) as genai-prices resolves the pair, computed here on its own."""
    if not provider or not model:
        return None, None
    snapshot = data_snapshot.get_snapshot()
    try:
        _, info = snapshot.find_provider_model(model, None, provider, None)
    except LookupError:
        return None, None
    # The provider that lists the model (how the price book is keyed), not the one asked.
    return next(p.id for p in snapshot.providers if any(m is info for m in p.models)), info.id


def refs(base: Path) -> dict[tuple[str, str], tuple[str | None, str | None, str]]:
    rows = pq.read_table(refs_path(base)).to_pylist()
    return {
        (r["provider"], r["model"]): (
            r["price_provider_id"],
            r["price_model_id"],
            r["genai_prices_version"],
        )
        for r in rows
    }


def write_refs(base: Path, table: dict[tuple[str, str], tuple[str | None, str | None, str]]):
    rows = sorted(table.items())
    pq.write_table(
        pa.table(
            {
                "provider": [p for (p, _), _ in rows],
                "model": [m for (_, m), _ in rows],
                "price_provider_id": [r[0] for _, r in rows],
                "price_model_id": [r[1] for _, r in rows],
                "genai_prices_version": [r[2] for _, r in rows],
            }
        ),
        refs_path(base),
    )


def test_refs_are_genai_prices_resolution_and_reused_per_release(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first_load, second_load = make_fixture(seed=5, runs=20).write(tmp_path / "events")
    summary = load_paths([first_load], data_dir, final=True)
    write_model_refs_reference(data_dir)

    first = refs(data_dir)
    con = duckdb.connect()
    pairs = set(
        con.execute(
            "select distinct lower(trim(model_call.provider)), lower(trim(model_call.model)) "
            "from read_parquet(?) where model_call is not null",
            [str(data_dir / "lake" / "events" / "*" / "*.parquet")],
        ).fetchall()
    )
    assert set(first) == pairs, "one row per distinct pair of the model-call events"
    loads = pq.read_table(loads_path(data_dir)).to_pylist()
    record = summary.as_dict()
    started = datetime.strptime(summary.load_id[1:22], "%Y%m%dT%H%M%S%f").replace(tzinfo=UTC)
    assert loads == [
        {
            "load_id": summary.load_id,
            **{name: record[name] for name in COMMIT_COUNTS},
            "seconds": record["seconds"],
            "load_started_at": started,
        }
    ]
    assert record["lake_files"] == summary.lake_files > 0
    version = genai_prices.__version__
    for (provider, model), (pid, mid, v) in first.items():
        assert v == version
        assert (pid, mid) == genai_resolution(provider, model), (provider, model)
    priced = sorted(pair for pair, (_, mid, _) in first.items() if mid is not None)
    assert len(priced) >= 2, "the fixture must use at least two known models"
    kept_pair, stale_pair = priced[0], priced[1]

    # Between refreshes, mark one row as if resolved earlier by this release and another as
    # if resolved by an older release.
    edited = dict(first)
    edited[kept_pair] = (first[kept_pair][0], "kept-as-is", version)
    edited[stale_pair] = (first[stale_pair][0], "stale", "0.0.0")
    write_refs(data_dir, edited)
    load_paths([second_load], data_dir, final=True)
    write_model_refs_reference(data_dir)
    second = refs(data_dir)

    assert second[kept_pair] == (first[kept_pair][0], "kept-as-is", version), "not asked again"
    assert second[stale_pair] == first[stale_pair], "another release's row is resolved afresh"
    assert {p: r for p, r in second.items() if p != kept_pair} == {
        p: r for p, r in first.items() if p != kept_pair
    }
    assert len(pq.read_table(loads_path(data_dir))) == 2


def test_commit_records_and_complete_quarantine_files_are_listed(tmp_path: Path) -> None:
    """What the dbt sources lake.load_commits and quarantine.lines read on every engine."""
    data_dir = tmp_path / "data"
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"event_id": "x"}\nnot json\n')
    first = load_paths([bad], data_dir, final=True)
    assert (first.accepted, first.quarantined) == (0, 2)
    (data_dir / "quarantine" / ".L-in-flight.jsonl.tmp").write_bytes(b"{}\n")
    (data_dir / "quarantine" / ".L-in-flight.jsonl").write_bytes(b"{}\n")
    # An older commit record without counts, and one that is not JSON.
    loads_dir = data_dir / "lake" / "_loads"
    (loads_dir / "L20261101T000000000001_aaaaaa.json").write_bytes(b"{}")
    (loads_dir / "Lnot-a-time_bbbbbb.json").write_bytes(b"[1")
    write_model_refs_reference(data_dir)

    names = pq.read_table(quarantine_files_path(data_dir)).column("quarantine_file").to_pylist()
    assert names == [f"{first.load_id}.jsonl"]
    rows = {r["load_id"]: r for r in pq.read_table(loads_path(data_dir)).to_pylist()}
    assert rows[first.load_id]["quarantined"] == 2
    assert rows[first.load_id]["accepted"] == 0
    old = rows["L20261101T000000000001_aaaaaa"]
    assert old["load_started_at"] == datetime(2026, 11, 1, 0, 0, 0, 1, tzinfo=UTC)
    assert (old["lake_files"], old["accepted"], old["seconds"]) == (0, None, None)
    broken = rows["Lnot-a-time_bbbbbb"]
    assert (broken["load_started_at"], broken["lake_files"], broken["quarantined"]) == (
        None,
        0,
        None,
    )


def test_a_pair_never_resolved_fails_the_build(tmp_path: Path) -> None:
    """dbt prices nothing as unknown that genai-prices was never asked about."""
    data_dir = tmp_path / "data"
    (events,) = make_fixture(seed=5, runs=10).write(tmp_path / "events")[:1]
    load_paths([events], data_dir, final=True)
    published = build_warehouse(data_dir)
    before = published.stat().st_mtime_ns

    # The reference loses a pair while its load stays listed as seen: the next refresh does
    # not rescan that load, and dbt must refuse.
    table = refs(data_dir)
    lost = sorted(pair for pair, ids in table.items() if ids[1] is not None)[0]
    del table[lost]
    write_refs(data_dir, table)
    result = warehouse.build(data_dir)
    assert not result.success and result.published_path is None
    assert any("int_model_refs_resolved" in f for f in result.failures), result.failures
    assert published.stat().st_mtime_ns == before, "nothing published"

    # Forgetting which loads were scanned makes the next build resolve them all again.
    loads_path(data_dir).unlink()
    assert warehouse.build(data_dir).success
    assert lost in refs(data_dir)
