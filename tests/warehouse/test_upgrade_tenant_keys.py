"""Upgrading a data directory built before ids were keyed per tenant.

A lake and a build database (with its cost ledger) are made by the dbt project as it was at
the last commit before the change (git history: `OLD_COMMIT`), with two tenants that share
ids: the old build kept one tenant's events and booked only its calls. Then today's
`agentops-wh build`, with no flag and no manual step, must notice the older layout, rebuild
what it must from the lake, keep every ledger entry it had (ids, amounts, booking times)
and book the calls it had missed, so each tenant's ledger equals its own calc_price.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from decimal import Decimal
from pathlib import Path

import duckdb
import orjson
import pytest

from ingestion.files.loader import load_paths
from ingestion.settings import PROJECT_ROOT
from orchestration.warehouse import build as warehouse
from tests.two_tenants import TENANTS, price, run_events

pytestmark = pytest.mark.slow

# The last commit whose dbt project keyed events, runs and calls by their id alone.
OLD_COMMIT = "52ca6c4"


def old_dbt_project(dest: Path) -> Path:
    """The dbt project as of OLD_COMMIT, extracted from git into `dest`."""
    proc = subprocess.run(
        ["git", "-C", str(PROJECT_ROOT), "archive", OLD_COMMIT, "dbt_project"],
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(f"git archive {OLD_COMMIT} failed (a shallow clone?): {proc.stderr!r}")
    with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as tar:
        tar.extractall(dest, filter="data")
    return dest / "dbt_project"


def old_build(base: Path, project: Path) -> None:
    """`dbt build` of the old project into base/build, as the old `agentops-wh build` ran it."""
    (base / "build").mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "orchestration.warehouse.dbt_main",
        "build",
        "--project-dir",
        str(project),
        "--profiles-dir",
        str(project),
        "--target-path",
        str(base / "old-target"),
        "--log-path",
        str(base / "old-logs"),
        "--exclude-resource-type",
        "unit_test",
    ]
    env = dict(os.environ, AGENTOPS_DATA_DIR=str(base), DBT_SEND_ANONYMOUS_USAGE_STATS="false")
    proc = subprocess.run(cmd, env=env, cwd=project, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:]


def ledger(base: Path) -> list[tuple]:
    con = duckdb.connect(str(warehouse.build_db_path(base)), read_only=True)
    try:
        return con.execute(
            "select ledger_entry_id, tenant_id, model_call_id, cost_usd, booked_at "
            "from marts.fct_cost_ledger order by ledger_entry_id"
        ).fetchall()
    finally:
        con.close()


def test_an_old_build_database_upgrades_itself_and_keeps_its_ledger(tmp_path: Path) -> None:
    base = tmp_path / "data"
    base.mkdir()
    events = [e for t in TENANTS for i in range(2) for e in run_events(t, i)]
    path = tmp_path / "two-tenants.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    assert load_paths([path], base, final=True).accepted == len(events)

    old_build(base, old_dbt_project(tmp_path / "old"))
    before = ledger(base)
    # The old layout kept one tenant per shared id: half the calls booked, all of one tenant.
    assert len(before) == 4 and len({r[1] for r in before}) == 1
    assert warehouse.needs_full_refresh(base)

    result = warehouse.build(base)
    assert result.success, result.summary() + result.output_tail
    assert result.full_refresh  # by itself: no flag, no manual step
    assert not warehouse.needs_full_refresh(base)

    after = ledger(base)
    assert set(before) <= set(after)  # history kept as it was: ids, amounts, booking times
    want = {
        (e["tenant"]["tenant_id"], e["model_call"]["model_call_id"]): price(e)
        for e in events
        if "model_call" in e
    }
    got: dict[tuple[str, str], Decimal] = {}
    for _id, tenant, call, cost, _at in after:
        got[(tenant, call)] = got.get((tenant, call), Decimal(0)) + cost
    assert got == want
    con = duckdb.connect(str(base / "warehouse.duckdb"), read_only=True)
    try:
        per_tenant = dict(
            con.execute("select tenant_id, count(*) from marts.fct_events group by 1").fetchall()
        )
    finally:
        con.close()
    assert per_tenant == {t: len(events) // len(TENANTS) for t in TENANTS}

    # The next build is an ordinary incremental one and books nothing more.
    again = warehouse.build(base)
    assert again.success and not again.full_refresh
    assert ledger(base) == after
