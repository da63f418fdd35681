"""Publishing and the `build` command, without running dbt."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from orchestration.cli import build_parser
from orchestration.warehouse.build import BuildResult, dbt_command, publish


def _db(path: Path, rows: int) -> None:
    con = duckdb.connect(str(path))
    try:
        con.execute("create or replace table t as select range as i from range(?)", [rows])
    finally:
        con.close()


def test_publish_replaces_atomically_and_keeps_open_readers_on_their_snapshot(
    tmp_path: Path,
) -> None:
    build_db, dest = tmp_path / "build" / "b.duckdb", tmp_path / "warehouse.duckdb"
    build_db.parent.mkdir()
    _db(build_db, 10)
    publish(build_db, dest)
    reader = duckdb.connect(str(dest), read_only=True)
    try:
        _db(build_db, 20)  # the next build, written while a reader holds the old file
        publish(build_db, dest)
        assert reader.execute("select count(*) from t").fetchone() == (10,)
    finally:
        reader.close()
    fresh = duckdb.connect(str(dest), read_only=True)
    try:
        assert fresh.execute("select count(*) from t").fetchone() == (20,)
    finally:
        fresh.close()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp-")] == []


def test_publish_copies_changes_still_in_the_write_ahead_log(tmp_path: Path) -> None:
    build_db, dest = tmp_path / "b.duckdb", tmp_path / "w.duckdb"
    con = duckdb.connect(str(build_db))
    con.execute("set checkpoint_threshold = '1GB'")  # keep the insert in the WAL
    con.execute("create table t as select range as i from range(1000)")
    con.close()
    publish(build_db, dest)
    check = duckdb.connect(str(dest), read_only=True)
    try:
        assert check.execute("select count(*) from t").fetchone() == (1000,)
    finally:
        check.close()


def test_dbt_command_isolates_each_data_dir_and_leaves_unit_tests_to_the_suite(
    tmp_path: Path,
) -> None:
    cmd = dbt_command(tmp_path, full_refresh=True, select="fct_runs+")
    assert cmd[3] == "build" and "--full-refresh" in cmd
    assert cmd[cmd.index("--target-path") + 1] == str(tmp_path / "build" / "target")
    assert cmd[cmd.index("--select") + 1] == "fct_runs+"
    assert cmd[cmd.index("--exclude-resource-type") + 1] == "unit_test"


def test_build_subcommand_is_registered_with_its_flags() -> None:
    args = build_parser("build").parse_args(["build", "--full-refresh", "--select", "marts"])
    assert args.full_refresh is True and args.select == "marts"
    assert callable(args.func)


@pytest.mark.parametrize("success", [True, False])
def test_build_summary_says_what_happened(tmp_path: Path, success: bool) -> None:
    result = BuildResult(
        success=success,
        data_dir=tmp_path,
        build_path=tmp_path / "build" / "warehouse_build.duckdb",
        published_path=tmp_path / "warehouse.duckdb" if success else None,
        full_refresh=False,
        seconds=5.0,
        dbt_seconds=4.5,
        publish_seconds=0.1,
        statuses={"pass": 10, "success": 5} if success else {"error": 1, "skipped": 3},
        failures=[] if success else ["model.x: boom"],
    )
    text = result.summary()
    assert ("\npublished " in text) == success
    assert ("model.x: boom" in text) != success
