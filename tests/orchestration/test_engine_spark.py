"""The engine choice and the Spark build's pure parts (no Spark started here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestration.cli import build_parser
from orchestration.warehouse import engine_switch
from orchestration.warehouse import spark as engine_spark
from tests.warehouse import test_spark_parity


def test_engine_from_flag_else_environment_else_duckdb(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(engine_spark.ENGINE_ENV, raising=False)
    assert engine_spark.resolve_engine() == "duckdb"
    monkeypatch.setenv(engine_spark.ENGINE_ENV, "Spark")
    assert engine_spark.resolve_engine() == "spark"
    assert engine_spark.resolve_engine("duckdb") == "duckdb"
    monkeypatch.setenv(engine_spark.ENGINE_ENV, "trino")
    with pytest.raises(ValueError, match="unknown engine 'trino'.*AGENTOPS_ENGINE"):
        engine_spark.resolve_engine()


def test_cli_takes_the_engine() -> None:
    args = build_parser("build").parse_args(["build", "--engine", "spark"])
    assert args.engine == "spark"
    assert build_parser("build").parse_args(["build"]).engine is None


def test_missing_java_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert "Java 17" in (engine_spark.spark_unavailable_reason() or "")


def test_missing_spark_skips_or_fails_when_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_spark, "spark_unavailable_reason", lambda: "no Java runtime")
    monkeypatch.delenv(test_spark_parity.REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match="no Java runtime"):
        test_spark_parity._spark_or_skip()
    monkeypatch.setenv(test_spark_parity.REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="AGENTOPS_REQUIRE_SPARK=1.*no Java runtime"):
        test_spark_parity._spark_or_skip()


def test_table_files_leave_out_spark_work_folders(tmp_path: Path) -> None:
    table = tmp_path / "fct_x"
    for name in (
        "part-0.parquet",
        "usage_date=2026-11-01/part-1.parquet",
        "_temporary/0/part-2.parquet",
        ".spark-staging-1/part-3.parquet",
        "_SUCCESS",
        ".part-0.parquet.crc",
    ):
        (table / name).parent.mkdir(parents=True, exist_ok=True)
        (table / name).write_bytes(b"x")
    assert engine_spark.table_files(table) == [
        str(table / "part-0.parquet"),
        str(table / "usage_date=2026-11-01" / "part-1.parquet"),
    ]


def test_existing_files_name_every_probed_pattern(tmp_path: Path) -> None:
    (tmp_path / "reference").mkdir()
    (tmp_path / "reference" / "budgets.parquet").write_bytes(b"x")
    found = engine_spark.existing_files(tmp_path)
    assert found == {
        "lake/events/*/*.parquet": False,
        "outbox/alerts/*.parquet": False,
        "reference/budgets.parquet": True,
        "reference/model_refs.parquet": False,
        "reference/statements.parquet": False,
    }


def test_the_last_engine_is_duckdb_for_older_builds(tmp_path: Path) -> None:
    assert engine_switch.last_engine(tmp_path) is None
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "warehouse_build.duckdb").write_bytes(b"")
    assert engine_switch.last_engine(tmp_path) == "duckdb"
    engine_switch.record(tmp_path, "spark")
    assert engine_switch.last_engine(tmp_path) == "spark"
    assert engine_switch.prepare(tmp_path, "spark", None) is False


def test_a_switch_with_select_is_refused(tmp_path: Path) -> None:
    from orchestration.warehouse.build import BuildError

    (tmp_path / "build").mkdir()
    engine_switch.record(tmp_path, "duckdb")
    with pytest.raises(BuildError, match="build the whole project once on spark"):
        engine_switch.prepare(tmp_path, "spark", "fct_runs")
