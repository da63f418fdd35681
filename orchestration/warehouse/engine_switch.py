"""Switching a data directory between engines without rebooking the ledger's history.

Each engine keeps its own build (DuckDB: `build/warehouse_build.duckdb`; Spark:
`build/spark/`), and `build/engine` names the one that built last. The cost ledger is
append-only history: a build on an engine with no ledger would book every call anew at today's
prices, and one on an engine whose ledger is older would miss what the other booked since.

So the first build after a switch carries the ledger over, once, before dbt runs:

1. the previous engine's `marts.fct_cost_ledger`, every entry as booked, is written to
   `build/carryover/fct_cost_ledger.parquet`;
2. that file replaces the new engine's ledger table (`dbt run-operation carry_over_table`,
   macros/carry_over.sql);
3. the build is a full refresh: every other model is rebuilt from the lake, and the ledger,
   never rebuilt (`full_refresh=false`), books only the calls it does not hold yet.

A failed build leaves `build/engine` as it was, so the next one carries the ledger again.
The previous engine's ledger must be readable here: a Spark ledger from the session target's
folder (`build/spark/warehouse/`); a switch away from a Spark cluster is refused, naming the
files it needs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from orchestration.warehouse import spark as engine_spark

LEDGER = ("marts", "fct_cost_ledger")


def stamp_path(base: Path) -> Path:
    return base / "build" / "engine"


def last_engine(base: Path) -> str | None:
    """The engine of the last successful full build (duckdb for builds older than the stamp)."""
    from orchestration.warehouse.build import build_db_path

    stamp = stamp_path(base)
    if stamp.exists():
        return stamp.read_text().strip() or None
    return "duckdb" if build_db_path(base).exists() else None


def record(base: Path, engine: str) -> None:
    """After a successful build of the whole project on `engine`."""
    stamp_path(base).write_text(engine + "\n")


def carryover_path(base: Path) -> Path:
    return base / "build" / "carryover" / "fct_cost_ledger.parquet"


def export_ledger(base: Path, engine: str) -> Path | None:
    """The ledger of `engine`'s build as one Parquet file (None when it has no ledger)."""
    import duckdb

    from orchestration.warehouse.build import BuildError, build_db_path

    dest = carryover_path(base)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.{os.getpid()}.tmp"
    if engine == "duckdb":
        if not build_db_path(base).exists():
            return None
        con = duckdb.connect(str(build_db_path(base)), read_only=True)
        source = "marts.fct_cost_ledger"
        exists = con.execute(
            "select count(*) from duckdb_tables() where schema_name = ? and table_name = ?",
            list(LEDGER),
        ).fetchone()[0]
    else:
        folder = engine_spark.table_dir(base, *LEDGER)
        if engine_spark.spark_target() != engine_spark.DEFAULT_SPARK_TARGET:
            raise BuildError(
                "switching away from Spark needs its ledger's Parquet files, which a "
                f"{engine_spark.spark_target()!r} target keeps on the cluster: copy the table "
                f"marts.fct_cost_ledger's files to {folder} first, then build again"
            )
        con = duckdb.connect()
        exists = any(folder.glob("*.parquet"))
        source = f"read_parquet('{folder}/*.parquet')"
    try:
        if not exists:
            return None
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"copy (select * from {source}) to '{tmp}' (format parquet)")
    finally:
        con.close()
    os.replace(tmp, dest)
    return dest


def import_ledger(base: Path, engine: str, path: Path) -> None:
    """Replace `engine`'s ledger table with the entries of `path`."""
    from ingestion.settings import DBT_PROJECT_DIR
    from orchestration.warehouse.build import BuildError, dbt_command

    macro_args = {"schema": LEDGER[0], "identifier": LEDGER[1], "path": str(path)}
    if engine == "spark":
        engine_spark.run_operation(base, "carry_over_table", macro_args)
        return
    cmd = dbt_command(base, command="run-operation")
    cmd += ["carry_over_table", "--args", json.dumps(macro_args)]
    env = dict(os.environ, AGENTOPS_DATA_DIR=str(base), DBT_SEND_ANONYMOUS_USAGE_STATS="false")
    proc = subprocess.run(
        cmd, env=env, cwd=DBT_PROJECT_DIR, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-20:])
        raise BuildError(f"`dbt run-operation carry_over_table` failed on DuckDB:\n{tail}")


def prepare(base: Path, engine: str, select: str | None) -> bool:
    """Before a build on `engine`: carry the ledger over if the last build was on another
    engine. Returns whether it did (the build must then be a full refresh)."""
    from orchestration.warehouse.build import BuildError

    previous = last_engine(base)
    if previous is None or previous == engine:
        return False
    if select is not None:
        raise BuildError(
            f"the last build of {base} was on {previous}: build the whole project once on "
            f"{engine} (without --select) to carry the cost ledger over"
        )
    path = export_ledger(base, previous)
    if path is not None:
        import_ledger(base, engine, path)
        print(
            f"carried the cost ledger over from {previous} to {engine} ({path}); "
            "rebuilding the other models from the lake",
            file=sys.stderr,
        )
    return True
