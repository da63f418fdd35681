"""int_model_refs_resolved: genai-prices' own resolution, reused across builds per release.

A build resolves only the (provider, model) pairs the table does not already hold for the
installed genai-prices release. Shown by editing the build database between two builds: a
row stamped with the installed release is kept as it is (it was not asked again), a row
stamped with another release is resolved afresh.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import genai_prices
import pytest
from genai_prices import data_snapshot

from ingestion.files.loader import load_paths
from orchestration.warehouse.build import BUILD_DB_NAME
from tests.warehouse.fixtures import make_fixture
from tests.warehouse.pricing_support import build_warehouse

pytestmark = pytest.mark.slow

REFS = "intermediate.int_model_refs_resolved"


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


def refs(db: Path) -> dict[tuple[str, str], tuple[str | None, str | None, str]]:
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.sql(
            f"select provider, model, price_provider_id, price_model_id, genai_prices_version "
            f"from {REFS}"
        ).fetchall()
    return {(p, m): (pid, mid, v) for p, m, pid, mid, v in rows}


def test_refs_are_genai_prices_resolution_and_reused_per_release(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    (events,) = make_fixture(seed=5, runs=20).write(tmp_path / "events")[:1]
    load_paths([events], data_dir, final=True)
    published = build_warehouse(data_dir)

    first = refs(published)
    with duckdb.connect(str(published), read_only=True) as con:
        pairs = set(
            con.sql(
                "select distinct provider, model from staging.stg_lake__events "
                "where event_type in ('model_call.completed', 'model_call.failed')"
            ).fetchall()
        )
    assert set(first) == pairs, "one row per distinct pair of the model-call events"
    version = genai_prices.__version__
    for (provider, model), (pid, mid, v) in first.items():
        assert v == version
        assert (pid, mid) == genai_resolution(provider, model), (provider, model)
    priced = sorted(pair for pair, (_, mid, _) in first.items() if mid is not None)
    assert len(priced) >= 2, "the fixture must use at least two known models"
    kept_pair, stale_pair = priced[0], priced[1]

    # Between builds, mark one row as if resolved earlier by this release and another as if
    # resolved by an older release.
    build_db = data_dir / "build" / BUILD_DB_NAME
    with duckdb.connect(str(build_db)) as con:
        con.execute(
            f"update {REFS} set price_model_id = 'kept-as-is' where provider = ? and model = ?",
            list(kept_pair),
        )
        con.execute(
            f"update {REFS} set price_model_id = 'stale', genai_prices_version = '0.0.0' "
            "where provider = ? and model = ?",
            list(stale_pair),
        )
    second = refs(build_warehouse(data_dir))

    assert second[kept_pair] == (first[kept_pair][0], "kept-as-is", version), "not asked again"
    assert second[stale_pair] == first[stale_pair], "another release's row is resolved afresh"
    assert {p: r for p, r in second.items() if p != kept_pair} == {
        p: r for p, r in first.items() if p != kept_pair
    }
