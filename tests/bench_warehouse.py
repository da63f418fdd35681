"""Warehouse build benchmark: a full build against an incremental one (+1% new events).

    python -c "from tests.bench_warehouse import bench_build; bench_build(1_000_000)"

Generates `n_events` with the generator (30 days, 5 tenants, a few producer retries), loads
them, and times on the same lake:

- full: the first `dbt build` of an empty build database (dbt parsing excluded);
- incremental: after loading 1% more events (half of them late, in the last day of the
  window), the next `dbt build`;
- full refresh: `dbt build --full-refresh` over everything, the cost the incremental path
  avoids.

Set BENCH_DIR to keep the data (default: a temporary directory, removed afterwards).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ingestion.files.loader import load_paths
from ingestion.synthetic.generator import GeneratorConfig, generate_lines, write_jsonl
from orchestration.warehouse.build import BuildResult, build, dbt_command

END = datetime(2026, 11, 20, tzinfo=UTC)
DAYS = 30
EVENTS_PER_RUN = 14  # about what the generator's workflows emit


def _generate(out: Path, n: int, start: datetime, end: datetime, seed: int) -> int:
    runs_per_day = max(1.0, n / EVENTS_PER_RUN / ((end - start) / timedelta(days=1)) * 1.3)
    config = GeneratorConfig(
        start=start,
        end=end,
        seed=seed,
        tenants=5,
        runs_per_day=runs_per_day,
        duplicate_rate=0.002,
        max_events=n,
    )
    return write_jsonl(generate_lines(config), out, events_per_file=500_000).events


def _load(base: Path, folder: Path) -> float:
    t0 = time.perf_counter()
    summary = load_paths([folder], base, final=True)
    assert summary.quarantined == 0, summary
    return time.perf_counter() - t0


def _parse(base: Path) -> None:
    env = dict(os.environ, AGENTOPS_DATA_DIR=str(base))
    (base / "build").mkdir(parents=True, exist_ok=True)
    subprocess.run(dbt_command(base, command="parse"), env=env, check=True, capture_output=True)


def _checked(result: BuildResult) -> BuildResult:
    if not result.success:
        raise RuntimeError(result.summary() + "\n" + result.output_tail)
    return result


def bench_build(n_events: int) -> dict[str, float]:
    """Print full vs incremental (+1%) build times side by side for `n_events` events."""
    keep = os.environ.get("BENCH_DIR")
    base = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="bench-warehouse-"))
    base.mkdir(parents=True, exist_ok=True)
    try:
        start = END - timedelta(days=DAYS)
        t0 = time.perf_counter()
        n = _generate(base / "incoming" / "base", n_events, start, END, seed=1)
        gen_s = time.perf_counter() - t0
        load_s = _load(base, base / "incoming" / "base")
        _parse(base)
        full = _checked(build(base))

        extra = max(1, n_events // 100)
        late = _generate(base / "incoming" / "late", extra // 2, END - timedelta(days=1), END, 2)
        new = _generate(
            base / "incoming" / "new", extra - extra // 2, END, END + timedelta(days=1), 3
        )
        _load(base, base / "incoming" / "late")
        _load(base, base / "incoming" / "new")
        incremental = _checked(build(base))
        refresh = _checked(build(base, full_refresh=True))
        noop = _checked(build(base))

        figures = {
            "events": float(n),
            "generate_s": gen_s,
            "load_s": load_s,
            "full_s": full.dbt_seconds,
            "incremental_s": incremental.dbt_seconds,
            "full_refresh_s": refresh.dbt_seconds,
            "noop_s": noop.dbt_seconds,
            "publish_s": full.publish_seconds,
        }
        print(f"warehouse build, {n:,} events (+{late + new:,} for the incremental build)")
        print(f"  {'full build':<34}{full.dbt_seconds:>9.1f} s")
        print(
            f"  {'incremental build (+1%)':<34}{incremental.dbt_seconds:>9.1f} s"
            f"   {incremental.dbt_seconds / full.dbt_seconds:.2f}x full"
        )
        print(f"  {'full refresh, same lake':<34}{refresh.dbt_seconds:>9.1f} s")
        print(f"  {'incremental, nothing new':<34}{noop.dbt_seconds:>9.1f} s")
        print(f"  {'publish (checkpoint+copy+rename)':<34}{full.publish_seconds:>9.2f} s")
        print(f"  (generate {gen_s:.0f} s, load {load_s:.0f} s, not part of the build)")
        return figures
    finally:
        if not keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    import sys

    bench_build(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)


def bench_engines(n_events: int) -> dict[str, float]:
    """Full and incremental (+1%) builds on DuckDB and on Spark over one lake, same run.

    Two data directories share the lake (a symlink), so both engines read the same files.
    Spark runs as the `spark` target: a local session, Java start included in every build.
    """
    keep = os.environ.get("BENCH_DIR")
    base = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="bench-engines-"))
    base.mkdir(parents=True, exist_ok=True)
    duck, spark = base / "duckdb", base / "spark"
    try:
        start = END - timedelta(days=DAYS)
        n = _generate(base / "incoming" / "base", n_events, start, END, seed=1)
        duck.mkdir(exist_ok=True)
        spark.mkdir(exist_ok=True)
        _load(duck, base / "incoming" / "base")
        if not (spark / "lake").exists():
            (spark / "lake").symlink_to(duck / "lake")
        figures: dict[str, float] = {"events": float(n)}
        for engine, folder in (("duckdb", duck), ("spark", spark)):
            figures[f"{engine}_full_s"] = _checked(build(folder, engine=engine)).dbt_seconds
        extra = max(1, n_events // 100)
        late = _generate(base / "incoming" / "late", extra // 2, END - timedelta(days=1), END, 2)
        new = _generate(
            base / "incoming" / "new", extra - extra // 2, END, END + timedelta(days=1), 3
        )
        _load(duck, base / "incoming" / "late")
        _load(duck, base / "incoming" / "new")
        for engine, folder in (("duckdb", duck), ("spark", spark)):
            result = _checked(build(folder, engine=engine))
            figures[f"{engine}_incremental_s"] = result.dbt_seconds
            figures[f"{engine}_publish_s"] = result.publish_seconds
        print(f"warehouse build by engine, {n:,} events (+{late + new:,} for the incremental)")
        for engine in ("duckdb", "spark"):
            full, incr = figures[f"{engine}_full_s"], figures[f"{engine}_incremental_s"]
            print(
                f"  {engine:<7} full {full:>8.1f} s   incremental (+1%) {incr:>8.1f} s"
                f"   {incr / full:.2f}x full   publish {figures[f'{engine}_publish_s']:.2f} s"
            )
        return figures
    finally:
        if not keep:
            shutil.rmtree(base, ignore_errors=True)
