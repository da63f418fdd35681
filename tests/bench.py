"""`make bench`: every benchmark, each printing its figures beside a baseline from the same run.

Benchmarks measure speed; tests never assert wall-clock times. Sections can be chosen:

    python -m tests.bench                  # all sections
    python -m tests.bench loader warehouse # some
    BENCH_SMALL=1 python -m tests.bench    # smaller sizes, for a quick look

Sizes follow the issues: the loader on >= 200k events and a 2 GB file, the generator on 1M
events, the warehouse at 1M and 10M events, the HTTP loader against the file loader, the
dashboard's pages on a 1M-event warehouse, and end-to-end freshness.
"""

# ruff: noqa: E501 - the section table reads best one benchmark per line
from __future__ import annotations

import importlib
import os
import sys
import time
import traceback
from collections.abc import Callable

SMALL = os.environ.get("BENCH_SMALL") == "1"


def _call(module: str, func: str, *args: object) -> Callable[[], object]:
    def run() -> object:
        return getattr(importlib.import_module(module), func)(*args)

    return run


SECTIONS: dict[str, list[tuple[str, Callable[[], object]]]] = {
    "loader": [
        ("loader vs duckdb", _call("tests.bench_loader", "bench_loader", 50_000 if SMALL else 200_000)),
        ("loader memory", _call("tests.bench_loader", "bench_loader_memory", 0.2 if SMALL else 2.0)),
    ],
    "generator": [
        ("generator", _call("tests.bench_generator", "bench_generator", 100_000 if SMALL else 1_000_000)),
    ],
    "warehouse": [
        ("warehouse builds", _call("tests.bench_warehouse", "bench_build", 100_000 if SMALL else 1_000_000)),
    ]
    + ([] if SMALL else [("warehouse builds 10M", _call("tests.bench_warehouse", "bench_build", 10_000_000))]),
    "engines": [
        ("duckdb vs spark 20k", _call("tests.bench_warehouse", "bench_engines", 20_000)),
        ("duckdb vs spark 1M", _call("tests.bench_warehouse", "bench_engines", 100_000 if SMALL else 1_000_000)),
    ],
    "http": [("http loader", _call("tests.bench_http", "bench_http", 20_000 if SMALL else 100_000))],
    "dashboard": [("dashboard pages", _call("tests.bench_dashboard", "bench_dashboard"))],
    "freshness": [("freshness", _call("tests.bench_freshness", "bench_freshness"))],
}  # fmt: skip


def main(argv: list[str]) -> int:
    chosen = argv or list(SECTIONS)
    unknown = [s for s in chosen if s not in SECTIONS]
    if unknown:
        print(f"unknown section(s) {unknown}; choose from {list(SECTIONS)}", file=sys.stderr)
        return 2
    failures = 0
    for section in chosen:
        for name, run in SECTIONS[section]:
            print(f"\n## {name}", flush=True)
            start = time.perf_counter()
            try:
                run()
            except ModuleNotFoundError as exc:
                print(f"skipped: {exc}")
            except Exception:
                failures += 1
                traceback.print_exc()
            print(f"   ({time.perf_counter() - start:.0f}s)", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
