"""Benchmark of `agentops-wh generate`: events per second and peak memory for N events.

Runs the real command in a child process so that peak RSS is the generator's own (not the
test runner's) and CPU time is measured apart from wall time: on a shared machine wall time
varies with the neighbours, CPU time much less.

    python -m tests.bench_generator 1000000
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]


def bench_generator(n_events: int, *, gzip_output: bool = False) -> dict:
    """Generate `n_events` into a temporary folder; print and return speed and peak RSS."""
    with tempfile.TemporaryDirectory(prefix="bench-generator-") as tmp:
        cmd = [
            sys.executable,
            "-m",
            "orchestration.cli",
            "generate",
            "--seed",
            "1",
            "--tenants",
            "5",
            "--start",
            "2026-10-01T00:00:00Z",
            "--end",
            "2026-10-08T00:00:00Z",
            "--events",
            str(n_events),
            "--out",
            str(Path(tmp) / "out"),
            "--json",
        ]
        if gzip_output:
            cmd.append("--gzip")
        began = time.perf_counter()
        with tempfile.TemporaryFile() as err:
            proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=err)
            assert proc.stdout is not None
            stdout = proc.stdout.read()
            proc.stdout.close()
            # wait4 reaps this very child and returns its own resource usage (peak RSS, CPU).
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            wall = time.perf_counter() - began
            if proc.returncode != 0:
                err.seek(0)
                message = err.read().decode(errors="replace")[-2000:]
                raise RuntimeError(f"generate failed ({proc.returncode}): {message}")
        summary = orjson.loads(stdout)
    cpu = usage.ru_utime + usage.ru_stime
    result = {
        "events": summary["events"],
        "bytes": summary["bytes"],
        "files": len(summary["files"]),
        "gzip": gzip_output,
        "generate_seconds": summary["seconds"],
        "events_per_s": round(summary["events"] / summary["seconds"]),
        "process_wall_seconds": round(wall, 3),
        "process_cpu_seconds": round(cpu, 3),
        "events_per_cpu_s": round(summary["events"] / cpu) if cpu else None,
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # ru_maxrss is in KiB on Linux
    }
    print(
        f"generate: {result['events']:,} events in {result['generate_seconds']:.1f}s = "
        f"{result['events_per_s']:,} events/s ({result['events_per_cpu_s']:,} per CPU second), "
        f"peak RSS {result['peak_rss_mb']} MB, {result['bytes'] / 1e6:,.0f} MB written"
    )
    return result


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    bench_generator(n)
