"""`agentops-wh build`: run the dbt project, then publish a fresh read-only warehouse.

dbt writes to a build database, `$AGENTOPS_DATA_DIR/build/warehouse_build.duckdb`, that no
reader ever opens. After a successful `dbt build` the build database is checkpointed, copied
next to `$AGENTOPS_DATA_DIR/warehouse.duckdb` under a temporary name, fsynced and atomically
renamed over it. So:

- a reader opening `warehouse.duckdb` gets either the previous or the new warehouse, whole;
  a reader that already had the old file open keeps reading its snapshot (the rename does not
  touch the old inode);
- readers never hold the build database's lock, so a reader never blocks a build, and the
  build never writes to the file readers open, so a build never breaks a reader;
- a failed build publishes nothing: the previous warehouse stays in place.

`CHECKPOINT` before the copy matters: DuckDB keeps recent changes in a write-ahead log next to
the file, and a copy of the file alone would miss them.

dbt unit tests (model logic on mocked inputs) are left out of a publishing build, as dbt
recommends for production: they test the code, not the data, and the test suite runs them
(`run_unit_tests`). Data tests (keys, relationships, accepted values, contracts) run on
every build, and a failing one stops the publish.

Before dbt runs, `refresh_reference` writes the runtime reference data dbt reads as sources
(the budgets file, validated, as `reference/budgets.parquet`); a refused budgets file stops
the build there, naming its lines and fields, and publishes nothing.

dbt runs in a subprocess (`dbt_main.py` beside this module): each build gets its own
environment (`AGENTOPS_DATA_DIR`), and dbt-duckdb, which keeps its connection open for the life
of the process, releases the build database when the subprocess ends. Builds of one data directory
are serialized by a lock file.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from ingestion.fsync import fsync_and_rename
from ingestion.reference.budgets import BudgetsFileError, write_budgets_reference
from ingestion.reference.model_refs import ModelRefsError, write_model_refs_reference
from ingestion.settings import DBT_PROJECT_DIR, warehouse_path
from ingestion.settings import data_dir as default_data_dir

log = logging.getLogger("agentops.build")

BUILD_DB_NAME = "warehouse_build.duckdb"
_COPY_CHUNK = 16 * 1024 * 1024


class BuildError(Exception):
    """A build that could not run at all (as opposed to one whose models or tests failed)."""


@dataclass
class BuildResult:
    """What a build did: dbt's outcome per node, timings, and where it published."""

    success: bool
    data_dir: Path
    build_path: Path
    published_path: Path | None
    full_refresh: bool
    seconds: float
    dbt_seconds: float
    publish_seconds: float
    statuses: dict[str, int] = field(default_factory=dict)  # dbt status -> node count
    failures: list[str] = field(default_factory=list)  # "node: message" of every failed node
    returncode: int = 0
    output_tail: str = ""

    def summary(self) -> str:
        counts = ", ".join(f"{n} {status}" for status, n in sorted(self.statuses.items()))
        kind = "full refresh" if self.full_refresh else "incremental"
        head = f"dbt build ({kind}) {'succeeded' if self.success else 'FAILED'}"
        lines = [f"{head} in {self.dbt_seconds:.1f}s: {counts or 'no nodes'}"]
        if self.published_path is not None:
            lines.append(f"published {self.published_path} in {self.publish_seconds:.2f}s")
        else:
            lines.append("nothing published; the previous warehouse (if any) is unchanged")
        lines += [f"  {f}" for f in self.failures]
        return "\n".join(lines)


def refresh_reference(base: Path) -> list[Path]:
    """Write the runtime reference data dbt reads as sources, before every build.

    Every path that builds the warehouse calls this first: `build` (the CLI and the demo)
    and Dagster's `budgets_reference` asset. The budgets file, then the model references
    (ingestion/reference/model_refs.py); the budgets' path comes first. Raises BuildError when the
    budgets file is refused (the message names each line, field and what to write instead).
    """
    try:
        return [write_budgets_reference(base), *write_model_refs_reference(base)]
    except (BudgetsFileError, ModelRefsError) as exc:
        raise BuildError(str(exc)) from exc


def build_db_path(base: Path) -> Path:
    """The database dbt writes to (profiles.yml computes the same path)."""
    return base / "build" / BUILD_DB_NAME


@contextlib.contextmanager
def build_lock(base: Path) -> Iterator[None]:
    """Serialize the builds of one data directory (CLI, Dagster and tests alike)."""
    lock_path = base / "build" / ".lock"
    with open(lock_path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def seeds_fingerprint() -> str:
    """Content hash of the seed files and their configuration (dbt_project/seeds/)."""
    seeds = DBT_PROJECT_DIR / "seeds"
    h = hashlib.sha256()
    for path in sorted(p for p in seeds.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(seeds)).encode() + b"\0" + path.read_bytes() + b"\0")
    h.update((DBT_PROJECT_DIR / "dbt_project.yml").read_bytes())
    return h.hexdigest()


def _seeds_stamp(base: Path) -> Path:
    return base / "build" / "seeds.sha256"


def seed_args(base: Path, full_refresh: bool = False) -> list[str]:
    """dbt arguments that skip the seeds when the build database already holds these seeds.

    Seeds (the price book snapshot, overrides) change with the code, not with the data; a
    build that reloads and re-tests them every minute spends a tenth of its time on it. They
    load whenever their files changed since the last successful build, on a full refresh and
    into a new build database.
    """
    stamp = _seeds_stamp(base)
    if full_refresh or not build_db_path(base).exists() or not stamp.exists():
        return []
    return ["--exclude", "resource_type:seed"] if stamp.read_text() == seeds_fingerprint() else []


def skips_seeds(args: list[str]) -> bool:
    """Whether dbt arguments (with `seed_args`) leave the seeds out."""
    return "resource_type:seed" in args


def record_seeds(base: Path, args: list[str]) -> None:
    """After a successful build run with `args`: remember the seeds it loaded."""
    if not skips_seeds(args):
        _seeds_stamp(base).write_text(seeds_fingerprint())


def forget_seeds(base: Path, args: list[str] | None = None) -> None:
    """Before a build run with `args` that loads seeds: one that fails half way may leave them
    half loaded."""
    if not skips_seeds(args or []):
        _seeds_stamp(base).unlink(missing_ok=True)


# The layout of the build database's incremental tables. A change that needs them rebuilt
# from the lake bumps it, and the next build then runs as a full refresh by itself: no manual
# step. The cost ledger is never rebuilt (`full_refresh=false`): it is carried over, and the
# full refresh books only what it does not hold yet. History:
#   (none)            keyed by event_id, model_call_id, run_id alone;
#   "2-tenant-keys"   every producer id keyed by (tenant_id, id);
#   "3-cache-share"   model calls carry is_cache_share_unknown (OpenTelemetry spans).
BUILD_LAYOUT = "3-cache-share"


def _layout_stamp(base: Path) -> Path:
    return base / "build" / "layout"


def needs_full_refresh(base: Path) -> bool:
    """Whether the build database holds tables of an older layout (see BUILD_LAYOUT)."""
    if not build_db_path(base).exists():
        return False
    stamp = _layout_stamp(base)
    return not stamp.exists() or stamp.read_text().strip() != BUILD_LAYOUT


def record_layout(base: Path) -> None:
    """After a successful full build: the build database now has the current layout."""
    _layout_stamp(base).write_text(BUILD_LAYOUT + "\n")


def dbt_command(
    base: Path,
    *,
    full_refresh: bool = False,
    select: str | None = None,
    dbt_vars: dict[str, Any] | None = None,
    command: str = "build",
    unit_tests: bool = False,
) -> list[str]:
    """The dbt invocation of a build, as a subprocess argument list."""
    args = [
        sys.executable,
        "-m",
        "orchestration.warehouse.dbt_main",
        command,
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        # Per data directory: the profile depends on AGENTOPS_DATA_DIR, so a shared target
        # would lose partial parsing at every switch, and two builds would clobber each other.
        "--target-path",
        str(base / "build" / "target"),
        "--log-path",
        str(base / "build" / "logs"),
    ]
    if command in ("build", "test"):
        args.append("--no-write-json")  # dbt_main writes run_results.json itself
    if full_refresh:
        args.append("--full-refresh")
    if command == "build" and select is None:
        args += seed_args(base, full_refresh)
    if command == "build" and not unit_tests:
        args += ["--exclude-resource-type", "unit_test"]
    if select:
        args += ["--select", select]
    if dbt_vars:
        args += ["--vars", json.dumps(dbt_vars)]
    return args


def _read_run_results(base: Path, target: Path | None = None) -> tuple[dict[str, int], list[str]]:
    path = (target or base / "build" / "target") / "run_results.json"
    if not path.exists():
        return {}, []
    results = json.loads(path.read_text()).get("results", [])
    statuses = Counter(r["status"] for r in results)
    failures = [
        f"{r['unique_id']}: {(r.get('message') or r['status']).strip()}"
        for r in results
        if r["status"] in ("error", "fail", "runtime error")
    ]
    return dict(statuses), failures


def publish(build_path: Path, dest: Path) -> None:
    """Checkpoint the build database and atomically replace `dest` with a copy of it."""
    import duckdb

    con = duckdb.connect(str(build_path))
    try:
        con.execute("CHECKPOINT")
    finally:
        con.close()
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".tmp-{dest.name}.{os.getpid()}"
    try:
        with open(build_path, "rb") as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst, _COPY_CHUNK)
        fsync_and_rename(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def invoke_dbt(
    base: Path,
    cmd: list[str],
    *,
    target: Path | None = None,
    engine: str = "duckdb",
) -> tuple[subprocess.CompletedProcess, float]:
    """Run a dbt command line for data dir `base` from the project folder; the run results
    of an earlier command in `target` (default build/target) are removed first, so the ones
    read after are this command's. Returns the finished process and its seconds."""
    env = dict(os.environ, AGENTOPS_DATA_DIR=str(base), DBT_SEND_ANONYMOUS_USAGE_STATS="false")
    ((target or base / "build" / "target") / "run_results.json").unlink(missing_ok=True)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd, env=env, cwd=DBT_PROJECT_DIR, capture_output=True, text=True, check=False
        )
    except OSError as exc:
        hint = "pip install -e '.[spark]'" if engine == "spark" else "is dbt-duckdb installed?"
        raise BuildError(f"could not start dbt on {engine} ({exc}); {hint}") from exc
    return proc, time.perf_counter() - t0


def build(
    data_dir: Path | str | None = None,
    full_refresh: bool = False,
    *,
    select: str | None = None,
    dbt_vars: dict[str, Any] | None = None,
    publish_result: bool = True,
    engine: str | None = None,
    data_tests: bool = True,
) -> BuildResult:
    """Run `dbt build` on the lake under `data_dir` and publish the warehouse if it succeeds.

    `engine`: duckdb or spark (default: $AGENTOPS_ENGINE, else duckdb); the Spark build lives
    in orchestration/warehouse/spark.py, the carry-over of the ledger between engines in
    orchestration/warehouse/engine_switch.py. `data_tests=False` leaves the data tests out (the
    test suite's repeated Spark builds, to save time; a build that publishes runs them).
    """
    from orchestration.warehouse import engine_switch
    from orchestration.warehouse import spark as engine_spark

    started = time.perf_counter()
    try:
        engine = engine_spark.resolve_engine(engine)
    except ValueError as exc:
        raise BuildError(str(exc)) from exc
    base = Path(data_dir).resolve() if data_dir is not None else default_data_dir()
    (base / "build").mkdir(parents=True, exist_ok=True)
    with build_lock(base):
        refresh_reference(base)
        switched = engine_switch.prepare(base, engine, select)
        if engine == "spark":
            result = engine_spark.build_spark(
                base,
                full_refresh=full_refresh or switched,
                select=select,
                dbt_vars=dbt_vars,
                publish_result=publish_result,
                started=started,
                data_tests=data_tests,
            )
            if result.success and select is None:
                engine_switch.record(base, engine)
            return result
        full_refresh = full_refresh or switched
        fresh = not build_db_path(base).exists()
        upgrade = needs_full_refresh(base)
        if upgrade and select is not None:
            raise BuildError(
                "the build database was built by an older version (its tables are keyed "
                "differently); run `agentops-wh build` once without --select to upgrade it"
            )
        full_refresh = full_refresh or upgrade
        cmd = dbt_command(base, full_refresh=full_refresh, select=select, dbt_vars=dbt_vars)
        if not data_tests:
            cmd += ["--exclude-resource-type", "test"]
        forget_seeds(base, cmd)
        proc, dbt_seconds = invoke_dbt(base, cmd)
        statuses, failures = _read_run_results(base)
        success = proc.returncode == 0
        if success and select is None:
            record_seeds(base, cmd)
        if success and (select is None or fresh):
            record_layout(base)
        if success and select is None:
            engine_switch.record(base, engine)
        if not success and not failures:
            failures = [f"dbt exited with code {proc.returncode}; see the output below"]
        published: Path | None = None
        t1 = time.perf_counter()
        if success and publish_result:
            published = warehouse_path(base)
            publish(build_db_path(base), published)
            log_published(base, published)
        publish_seconds = time.perf_counter() - t1 if published else 0.0
    return _result(
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


def log_published(base: Path, published: Path, run_id: str | None = None) -> None:
    """Log the loads a newly published warehouse holds for the first time: the line where an
    event (logged with its load id by the loader) reaches the warehouse."""
    loads_file = base / "reference" / "committed_loads.parquet"
    if not loads_file.exists():
        return
    loads = set(pq.read_table(loads_file, columns=["load_id"]).column(0).to_pylist())
    seen_file = base / "build" / "published_loads.txt"
    seen = set(seen_file.read_text().split()) if seen_file.exists() else set()
    new = sorted(loads - seen)
    log.info(
        "published %s with %d new load(s)",
        published,
        len(new),
        extra={"load_id": new, "run_id": run_id, "loads_total": len(loads)},
    )
    tmp = seen_file.with_name(f".{seen_file.name}.{os.getpid()}")
    tmp.write_text("\n".join(sorted(loads | seen)) + "\n")
    os.replace(tmp, seen_file)


def run_unit_tests(
    data_dir: Path | str | None = None, *, dbt_vars: dict[str, Any] | None = None
) -> BuildResult:
    """Run the dbt unit tests against the build database of `data_dir`; publishes nothing.

    Needs one build first: dbt reads the columns of the mocked inputs from their tables.
    """
    started = time.perf_counter()
    base = Path(data_dir).resolve() if data_dir is not None else default_data_dir()
    # Same vars as the builds, or dbt re-parses the whole project.
    cmd = dbt_command(base, select="test_type:unit", command="test", dbt_vars=dbt_vars)
    with build_lock(base):
        proc, dbt_seconds = invoke_dbt(base, cmd)
    statuses, failures = _read_run_results(base)
    success = proc.returncode == 0
    return _result(base, proc, success, False, started, dbt_seconds, statuses, failures, None, 0)


def _result(
    base: Path,
    proc: subprocess.CompletedProcess,
    success: bool,
    full_refresh: bool,
    started: float,
    dbt_seconds: float,
    statuses: dict[str, int],
    failures: list[str],
    published: Path | None,
    publish_seconds: float,
) -> BuildResult:
    output = (proc.stdout or "") + (proc.stderr or "")
    return BuildResult(
        success=success,
        data_dir=base,
        build_path=build_db_path(base),
        published_path=published,
        full_refresh=full_refresh,
        seconds=time.perf_counter() - started,
        dbt_seconds=dbt_seconds,
        publish_seconds=publish_seconds,
        statuses=statuses,
        failures=failures,
        returncode=proc.returncode,
        output_tail="\n".join(output.splitlines()[-40:]),
    )


def _cmd_build(args: argparse.Namespace) -> int:
    try:
        result = build(full_refresh=args.full_refresh, select=args.select, engine=args.engine)
    except BuildError as exc:
        print(f"agentops-wh build: error: {exc}", file=sys.stderr)
        return 2
    print(result.summary())
    if not result.success:
        if not result.statuses:
            print(result.output_tail, file=sys.stderr)
        print(
            f"agentops-wh build: dbt failed; logs in {result.data_dir / 'build' / 'logs'}",
            file=sys.stderr,
        )
        return 1
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser(
        "build",
        help="run the dbt project and publish a fresh read-only warehouse",
        description="Run `dbt build` on the lake under $AGENTOPS_DATA_DIR into the build "
        "database, then publish it atomically as $AGENTOPS_DATA_DIR/warehouse.duckdb. "
        "A failed build publishes nothing.",
    )
    p.add_argument(
        "--full-refresh",
        action="store_true",
        help="rebuild incremental models from the whole lake (the cost ledger is kept)",
    )
    p.add_argument("--select", "-s", default=None, metavar="SELECTOR", help="dbt node selection")
    p.add_argument(
        "--engine",
        choices=("duckdb", "spark"),
        default=None,
        help="where dbt builds: duckdb (default, or $AGENTOPS_ENGINE) or spark (a local Spark "
        "session, or the cluster profiles.yml names); both publish the same warehouse.duckdb",
    )
    p.set_defaults(func=_cmd_build)
