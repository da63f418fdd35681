"""`agentops-wh build --engine spark`: the same dbt project on Spark, published as DuckDB.

dbt-spark runs the project (profiles.yml, target `spark`: a local Spark session by default,
`spark_thrift` for a Thrift server; `AGENTOPS_SPARK_TARGET` picks one). Tables are plain
Parquet (Delta and Iceberg need jars these machines cannot fetch) under
`$AGENTOPS_DATA_DIR/build/spark/warehouse/`, with their own metastore beside them.

After a successful build the marts and data-quality tables are copied, rows and column
descriptions, into a DuckDB file that is then published as `$AGENTOPS_DATA_DIR/warehouse.duckdb`
exactly as a DuckDB build is (checkpoint, copy, fsync, atomic rename: `publish`), so every
reader works unchanged. Copies, not views over Spark's files: Spark rewrites them in the next
build, under the readers' feet. Table files are read straight from the paths Spark lists for
the table (`inputFiles`); a view's rows are collected through Spark.

What Spark's plain Parquet tables cannot do is done before dbt, here:

- Spark SQL cannot list files and fails on a path that matches none: the patterns the dbt
  project asks about are looked up first and passed as the var `existing_files`;
- an incremental model can only append or overwrite whole partitions: when the seeds (the
  price book) changed since the last Spark build, the build is a full refresh, which reprices
  every call from the lake; the ledger is never rebuilt (`full_refresh=false`) and books the
  differences, as on DuckDB.

dbt runs in a subprocess (`python -m orchestration.warehouse.spark <dbt arguments>`), like the
DuckDB build: the Spark session and its JVM end with it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

ENGINE_ENV = "AGENTOPS_ENGINE"
ENGINES = ("duckdb", "spark")
SPARK_TARGET_ENV = "AGENTOPS_SPARK_TARGET"
DEFAULT_SPARK_TARGET = "spark"
# The files the dbt project asks about (macros lake_has_files), relative to the data dir.
PROBED_FILES = (
    "lake/events/*/*.parquet",
    "outbox/alerts/*.parquet",
    "reference/budgets.parquet",
    "reference/model_refs.parquet",
    "reference/statements.parquet",
)
# The schemas readers open in the published warehouse.
PUBLISHED_SCHEMAS = ("marts", "data_quality")


def resolve_engine(engine: str | None = None) -> str:
    """The engine to build with: `engine`, else $AGENTOPS_ENGINE, else duckdb."""
    chosen = (engine or os.environ.get(ENGINE_ENV) or "duckdb").strip().lower()
    if chosen not in ENGINES:
        raise ValueError(
            f"unknown engine {chosen!r} (from --engine or ${ENGINE_ENV}): use duckdb or spark"
        )
    return chosen


def spark_target() -> str:
    return os.environ.get(SPARK_TARGET_ENV) or DEFAULT_SPARK_TARGET


def spark_unavailable_reason() -> str | None:
    """Why `--engine spark` cannot run on this machine (None when it can)."""
    try:
        import dbt.adapters.spark  # noqa: F401
        import pyspark  # noqa: F401
    except ImportError as exc:
        return f"Spark support is not installed ({exc}): pip install -e '.[spark]'"
    java = Path(os.environ["JAVA_HOME"]) / "bin" / "java" if os.environ.get("JAVA_HOME") else None
    if not (java and java.exists()) and shutil.which("java") is None:
        return "no Java runtime (Spark needs Java 17): install openjdk-17-jre-headless"
    return None


def spark_dir(base: Path) -> Path:
    """What a Spark build keeps under the data directory (profiles.yml computes the same)."""
    return base / "build" / "spark"


def warehouse_dir(base: Path) -> Path:
    return spark_dir(base) / "warehouse"


def table_dir(base: Path, schema: str, table: str) -> Path:
    """Where the session target's metastore keeps a managed table's Parquet files."""
    return warehouse_dir(base) / f"{schema}.db" / table


def existing_files(base: Path) -> dict[str, bool]:
    """PROBED_FILES -> whether the pattern matches a file now."""
    return {pattern: next(base.glob(pattern), None) is not None for pattern in PROBED_FILES}


def _seeds_stamp(base: Path) -> Path:
    return spark_dir(base) / "seeds.sha256"


def has_build(base: Path) -> bool:
    """Whether a Spark build of this data directory exists (its metastore does)."""
    return (spark_dir(base) / "metastore_db").exists()


def spark_dbt_command(
    base: Path,
    *,
    full_refresh: bool,
    select: str | None = None,
    dbt_vars: dict[str, Any] | None = None,
    command: str = "build",
    extra: list[str] | None = None,
) -> list[str]:
    """The dbt invocation of a Spark build, as a subprocess argument list."""
    from orchestration.warehouse.build import DBT_PROJECT_DIR

    args = [
        sys.executable,
        "-m",
        "orchestration.warehouse.spark",
        command,
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target",
        spark_target(),
        "--target-path",
        str(spark_dir(base) / "target"),
        "--log-path",
        str(spark_dir(base) / "logs"),
        "--vars",
        json.dumps({**(dbt_vars or {}), "existing_files": existing_files(base)}),
    ]
    if command == "build":
        args += ["--no-write-json", "--exclude-resource-type", "unit_test"]
        if full_refresh:
            args.append("--full-refresh")
        elif select is None and seeds_current(base):
            args += ["--exclude", "resource_type:seed"]
        if select:
            args += ["--select", select]
    return args + (extra or [])


def seeds_current(base: Path) -> bool:
    """Whether the Spark build holds the seeds of these files (price book unchanged)."""
    from orchestration.warehouse.build import seeds_fingerprint

    stamp = _seeds_stamp(base)
    return has_build(base) and stamp.exists() and stamp.read_text() == seeds_fingerprint()


def dagster_build_args(base: Path, *, full_refresh: bool) -> list[str]:
    """The `dbt build` arguments of Dagster's dbt asset on Spark (the same rules as a CLI
    build: a full refresh when the seeds changed, seeds skipped when they did not)."""
    spark_dir(base).mkdir(parents=True, exist_ok=True)
    if has_build(base) and not seeds_current(base):
        full_refresh = True
    args = ["build", "--exclude-resource-type", "unit_test", "--target", spark_target()]
    args += ["--vars", json.dumps({"existing_files": existing_files(base)})]
    if full_refresh and has_build(base):
        args.append("--full-refresh")
    elif seeds_current(base):
        args += ["--exclude", "resource_type:seed"]
    return args


def record_seeds(base: Path, args: list[str]) -> None:
    """After a successful Spark build run with `args`: remember the seeds it loaded."""
    from orchestration.warehouse.build import seeds_fingerprint

    if "resource_type:seed" not in args:
        _seeds_stamp(base).write_text(seeds_fingerprint())


def _invoke(base: Path, cmd: list[str]) -> tuple[Any, float]:
    from orchestration.warehouse.build import invoke_dbt

    return invoke_dbt(base, cmd, target=spark_dir(base) / "target", engine="spark")


def run_operation(base: Path, macro: str, macro_args: dict[str, Any]) -> None:
    """`dbt run-operation` on Spark (the engine switch's ledger carry-over)."""
    from orchestration.warehouse.build import BuildError

    cmd = spark_dbt_command(
        base,
        full_refresh=False,
        command="run-operation",
        extra=[macro, "--args", json.dumps(macro_args)],
    )
    proc, _ = _invoke(base, cmd)
    if proc.returncode != 0:
        tail = "\n".join(((proc.stdout or "") + (proc.stderr or "")).splitlines()[-20:])
        raise BuildError(f"`dbt run-operation {macro}` failed on Spark:\n{tail}")


def build_spark(
    base: Path,
    *,
    full_refresh: bool,
    select: str | None,
    dbt_vars: dict[str, Any] | None,
    publish_result: bool,
    started: float,
    data_tests: bool = True,
) -> Any:
    """The Spark side of `build` (orchestration/warehouse/build.py); the caller holds the build
    lock and has refreshed the reference data. Returns its BuildResult."""
    from ingestion.settings import warehouse_path
    from orchestration.warehouse.build import (
        BuildError,
        _read_run_results,
        _result,
        seeds_fingerprint,
    )

    reason = spark_unavailable_reason()
    if reason:
        raise BuildError(reason)
    spark_dir(base).mkdir(parents=True, exist_ok=True)
    if select is None and has_build(base) and not seeds_current(base):
        full_refresh = True  # a new price book: see the module docstring
    if not has_build(base):
        full_refresh = False  # nothing to refresh; dbt builds every table anew
    cmd = spark_dbt_command(base, full_refresh=full_refresh, select=select, dbt_vars=dbt_vars)
    if not data_tests:
        cmd += ["--exclude-resource-type", "test"]
    loads_seeds = "resource_type:seed" not in cmd
    if loads_seeds:
        _seeds_stamp(base).unlink(missing_ok=True)
    proc, dbt_seconds = _invoke(base, cmd)
    statuses, failures = _read_run_results(base, spark_dir(base) / "target")
    success = proc.returncode == 0
    if success and loads_seeds and select is None:
        _seeds_stamp(base).write_text(seeds_fingerprint())
    if not success and not failures:
        failures = [f"dbt on Spark exited with code {proc.returncode}; see the output below"]
    published: Path | None = None
    publish_seconds = 0.0
    if success and publish_result:
        published = warehouse_path(base)
        publish_seconds = publish_spark(
            base, spark_dir(base) / "target" / "manifest.json", published
        )
    result = _result(
        base,
        proc,
        success,
        full_refresh,
        started,
        dbt_seconds,
        statuses,
        failures,
        published,
        publish_seconds,
    )
    result.build_path = warehouse_dir(base)
    return result


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def table_files(folder: Path) -> list[str]:
    """The data files of a Spark table: its Parquet files, less Spark's work folders (`_*`,
    `.*`) that a failed job may leave behind."""
    files = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(("_", ".")))
        files += [
            os.path.join(root, n)
            for n in sorted(names)
            if n.endswith(".parquet") and not n.startswith(("_", "."))
        ]
    return files


def published_nodes(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The models of the published schemas, in a stable order."""
    return sorted(
        (
            n
            for n in manifest["nodes"].values()
            if n["resource_type"] == "model" and n["schema"] in PUBLISHED_SCHEMAS
        ),
        key=lambda n: (n["schema"], n["alias"]),
    )


def copy_to_duckdb(base: Path, manifest: dict[str, Any], dest: Path) -> list[str]:
    """Copy the published schemas' tables Spark built into a new DuckDB file `dest`.

    Reads each table's Parquet files (every one is a table on Spark, dbt_project.yml).
    Contracted models get their contract's (DuckDB) column types and order, the others the
    types their files carry; descriptions become table and column comments. Returns the
    tables copied.
    """
    import duckdb

    from orchestration.warehouse.build import BuildError

    dest.unlink(missing_ok=True)
    con = duckdb.connect(str(dest))
    copied = []
    try:
        con.execute("SET TimeZone = 'UTC'")
        for schema in PUBLISHED_SCHEMAS:
            con.execute(f"create schema {schema}")
        for node in published_nodes(manifest):
            name = f"{node['schema']}.{node['alias']}"
            folder = table_dir(base, node["schema"], node["alias"])
            if not folder.is_dir():
                continue
            files = table_files(folder)
            if not files:
                raise BuildError(f"Spark's table {name} has no Parquet file under {folder}")
            columns = node["columns"]
            contract = node["contract"]["enforced"] and all(
                c.get("data_type") for c in columns.values()
            )
            select = (
                ", ".join(f"cast({c} as {col['data_type']}) as {c}" for c, col in columns.items())
                if contract
                else "*"
            )
            # Partition columns (agg_usage_*: usage_date) live in the folder names.
            partitioned = any("=" in os.path.relpath(f, folder) for f in files)
            con.execute(
                f"create table {name} as select {select} from read_parquet(?, "
                f"hive_partitioning = {str(partitioned).lower()})",
                [files],
            )
            if node.get("description"):
                con.execute(f"comment on table {name} is {_sql_text(node['description'].strip())}")
            present = {r[0] for r in con.execute(f"describe {name}").fetchall()}
            for column, info in columns.items():
                if info.get("description") and column in present:
                    con.execute(
                        f"comment on column {name}.{column} is "
                        f"{_sql_text(info['description'].strip())}"
                    )
            copied.append(name)
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return copied


def publish_spark(base: Path, manifest_path: Path, dest: Path) -> float:
    """Publish what Spark built as `dest` (a DuckDB file), atomically; returns the seconds."""
    from orchestration.warehouse.build import publish

    t0 = time.perf_counter()
    manifest = json.loads(manifest_path.read_text())
    scratch = spark_dir(base) / "published.duckdb"
    copy_to_duckdb(base, manifest, scratch)
    publish(scratch, dest)
    scratch.unlink(missing_ok=True)
    return time.perf_counter() - t0


def main() -> None:
    """dbt on Spark: parse once (writing target/manifest.json, which publishing reads), then
    run the command on that manifest."""
    from dbt.cli.main import dbtRunner

    from orchestration.warehouse.dbt_main import _write_run_results

    args = sys.argv[1:]
    parser = argparse.ArgumentParser(add_help=False)
    for flag in ("--project-dir", "--profiles-dir", "--target", "--target-path", "--log-path"):
        parser.add_argument(flag)
    parser.add_argument("--vars")
    common, _ = parser.parse_known_args(args)
    parse_args = ["parse"]
    for key, value in vars(common).items():
        if value is not None:
            parse_args += [f"--{key.replace('_', '-')}", value]
    parsed = dbtRunner().invoke(parse_args)
    code = 2
    if parsed.exception is not None or not parsed.success:
        print(f"dbt could not parse the project: {parsed.exception}", file=sys.stderr)
    else:
        outcome = dbtRunner(manifest=parsed.result).invoke(args)
        if outcome.exception is not None:
            print(f"dbt could not run: {outcome.exception}", file=sys.stderr)
        else:
            code = 0 if outcome.success else 1
            _write_run_results(args, outcome.result)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
