"""`make bench` section: how long each dashboard page takes to render on a 1M-event warehouse.

Each page is rendered through Streamlit's AppTest, the same way the tests run it: the entry
script (sidebar filters) plus the page, queries included. "cold" is the first render after the
query cache is cleared (what a new publish costs: the cache key changes with the warehouse
file); "warm" is the median of the next renders (cache hits, what a refresh costs). One
render before the timings warms the interpreter (imports, DuckDB's start-up), as a running
server is. The target is under one second cold.

The warehouse is generated, loaded and built once and kept (building 1M events takes minutes):
under $AGENTOPS_BENCH_DIR, default <tmp>/agentops-bench. Delete the folder to rebuild it.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

TARGET_SECONDS = 1.0
PAGES = {
    "overview": None,  # the default page: the entry script's first run renders it
    "failures": "app_pages/failures.py",
    "traces": "app_pages/traces.py",
    "cost": "app_pages/cost.py",
    "budgets": "app_pages/budgets.py",
    "governance": "app_pages/governance.py",
    "data_health": "app_pages/data_health.py",
}


def bench_dir() -> Path:
    return Path(os.environ.get("AGENTOPS_BENCH_DIR", Path(tempfile.gettempdir(), "agentops-bench")))


def prepare(events: int, directory: Path) -> Path:
    """A data directory with `events` generated events loaded and built (reused if present)."""
    from ingestion.files.loader import load_paths
    from ingestion.synthetic.generator import GeneratorConfig, generate_lines, write_jsonl
    from orchestration.warehouse.build import build

    data = directory / "data"
    if (data / "warehouse.duckdb").exists():
        return data
    source = directory / "events"
    start = time.perf_counter()
    if not source.exists():
        config = GeneratorConfig(
            start=datetime(2026, 10, 1, tzinfo=UTC),
            end=datetime(2026, 11, 1, tzinfo=UTC),
            seed=11,
            tenants=5,
            runs_per_day=max(1.0, events / 31 / 14),  # about 14 events per run
            max_events=events,
            duplicate_rate=0.005,
        )
        write_jsonl(generate_lines(config), source)
    print(f"   generated {events:,} events in {time.perf_counter() - start:.0f}s", flush=True)
    start = time.perf_counter()
    summary = load_paths([source], data, final=True)
    print(f"   loaded {summary.accepted:,} in {time.perf_counter() - start:.0f}s", flush=True)
    start = time.perf_counter()
    result = build(data, dbt_vars={"budget_as_of": "2026-10-31T18:00:00Z"})
    if not result.success:
        raise RuntimeError(f"the benchmark warehouse did not build:\n{result.summary()}")
    print(f"   built the warehouse in {time.perf_counter() - start:.0f}s", flush=True)
    return data


def _render(page: str | None, data: Path, clear: bool) -> float:
    """Seconds for one render of `page` (entry script + page) in AppTest."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from ingestion.settings import PROJECT_ROOT

    os.environ["AGENTOPS_DATA_DIR"] = str(data)
    at = AppTest.from_file(str(PROJECT_ROOT / "app" / "streamlit_app.py"), default_timeout=120)
    at.run()  # AppTest needs one run before it can switch pages
    if page is None:
        # Measured like the others: a switch to it from another page, not AppTest's first run.
        at.switch_page(PAGES["data_health"]).run()
        page = "app_pages/overview.py"
    if clear:
        st.cache_data.clear()
    at.switch_page(page)
    start = time.perf_counter()
    at.run()
    seconds = time.perf_counter() - start
    if at.exception:
        raise RuntimeError(f"{page or 'overview'} raised: {at.exception[0].value}")
    return seconds


def bench_dashboard(events: int = 1_000_000, repeats: int = 3) -> dict[str, Any]:
    """Render every page on a warehouse of `events` events; seconds per page, cold and warm."""
    data = prepare(events, bench_dir() / f"dashboard-{events}")
    import duckdb

    con = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
    try:
        in_warehouse = con.execute("select count(*) from marts.fct_events").fetchall()[0][0]
    finally:
        con.close()
    # A server renders its first page once: imports, DuckDB's start-up. Not what a page costs.
    _render(None, data, clear=True)
    pages: dict[str, dict[str, float]] = {}
    for name, page in PAGES.items():
        cold = _render(page, data, clear=True)
        warm = statistics.median(_render(page, data, clear=False) for _ in range(repeats))
        pages[name] = {"cold_s": round(cold, 3), "warm_s": round(warm, 3)}
        print(f"   {name:<12} cold {cold:6.3f}s   warm {warm:6.3f}s", flush=True)
    slowest = max(p["cold_s"] for p in pages.values())
    result = {
        "events": in_warehouse,
        "target_s": TARGET_SECONDS,
        "pages": pages,
        "slowest_cold_s": slowest,
        "all_under_target": slowest < TARGET_SECONDS,
    }
    verdict = "under" if result["all_under_target"] else "OVER"
    print(f"   slowest page {slowest:.3f}s cold: {verdict} the {TARGET_SECONDS:g}s target")
    return result


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    print(bench_dashboard(n))
