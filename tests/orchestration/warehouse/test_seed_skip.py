"""Seeds load when their files changed, on a full refresh and into a new build database only.

The end-to-end consequence (an edited overrides seed reaches the ledger on the next build) is
tested in test_ledger.py; these pin the decision itself.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestration.warehouse import build as warehouse
from tests.warehouse.pricing_support import copy_project

SKIP = ["--exclude", "resource_type:seed"]


def test_seeds_are_skipped_only_while_unchanged_and_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = copy_project(tmp_path / "dbt_project")
    monkeypatch.setattr(warehouse, "DBT_PROJECT_DIR", project)
    base = tmp_path / "data"
    (base / "build").mkdir(parents=True)
    full_cmd = warehouse.dbt_command(base)
    assert warehouse.seed_args(base) == [], "no build database yet"
    assert "resource_type:seed" not in full_cmd

    warehouse.build_db_path(base).touch()  # a build ran...
    assert warehouse.seed_args(base) == [], "...but none recorded its seeds"
    warehouse.record_seeds(base, full_cmd)
    assert warehouse.seed_args(base) == SKIP
    assert warehouse.dbt_command(base)[-len(SKIP) - 2 : -2] == SKIP
    assert warehouse.seed_args(base, full_refresh=True) == []
    assert "resource_type:seed" not in warehouse.dbt_command(base, select="fct_runs")

    # A build that skipped them leaves the record as it was.
    warehouse.record_seeds(base, warehouse.dbt_command(base))
    assert warehouse.seed_args(base) == SKIP

    overrides = project / "seeds" / "price_overrides.csv"
    overrides.write_text(overrides.read_text() + "\n")
    assert warehouse.seed_args(base) == [], "an edited seed loads again"
    warehouse.record_seeds(base, warehouse.dbt_command(base))
    assert warehouse.seed_args(base) == SKIP

    warehouse.forget_seeds(base)  # a build that loads seeds and fails half way
    assert warehouse.seed_args(base) == []
    warehouse.record_seeds(base, full_cmd)
    warehouse.build_db_path(base).unlink()
    assert warehouse.seed_args(base) == [], "a new build database needs its seeds"
