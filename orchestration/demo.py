"""`make demo`: the whole product on a recent week of synthetic data, one command.

Generates a week for three tenants (unless the lake already holds events), loads it, builds
and publishes the warehouse, creates a demo token, then starts the HTTP loader, Dagster and
the dashboard and waits; Ctrl-C stops them all. `--no-services` stops after the build.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from ingestion.settings import PROJECT_ROOT, data_dir

CLI = [sys.executable, "-m", "orchestration.cli"]


def _run(step: str, args: list[str], capture: bool = False) -> str:
    print(f"\n== {step}: agentops-wh {' '.join(args)}", flush=True)
    proc = subprocess.run([*CLI, *args], cwd=PROJECT_ROOT, text=True, capture_output=capture)
    if proc.returncode != 0:
        if capture:
            sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"demo: `{step}` failed (exit {proc.returncode}); see the output above")
    if capture:
        print(proc.stdout.strip())
    return proc.stdout if capture else ""


def prepare(days: int, tenants: int) -> str | None:
    """Generate (if the lake is empty), load and build. Returns a demo token if one was made."""
    base = data_dir()
    lake_has_events = any((base / "lake" / "events").rglob("*.parquet"))
    if not lake_has_events:
        landing = base / "landing" / "demo"
        landing.mkdir(parents=True, exist_ok=True)
        _run(
            "generate a recent week",
            [
                "generate", "--seed", "42", "--tenants", str(tenants), "--days", str(days),
                "--invalid-rate", "0.002", "--duplicate-rate", "0.002",
                "--out", str(landing / "demo-week.jsonl"),
            ],
        )  # fmt: skip
        _run("load it", ["load", "--final", str(landing)])
    else:
        print(f"== the lake under {base} already holds events: skipping generation")
    _run("build and publish the warehouse", ["build"])
    token = None
    tokens_file = base / "tokens.json"
    if not tokens_file.exists():
        out = _run("create a demo token", ["token", "create", "--tenant", "acme"], capture=True)
        token = next((w for w in out.split() if w.startswith("aow_")), None)
    return token


def start_services(token: str | None) -> None:
    """Start the HTTP loader, Dagster and the dashboard; stop them all on Ctrl-C."""
    base = data_dir()
    scripts = str(Path(sys.executable).parent)  # `dagster dev` parses with the `dbt` there
    env = {
        **os.environ,
        "AGENTOPS_DATA_DIR": str(base),
        "DAGSTER_HOME": str(base / "dagster"),
        "PATH": os.pathsep.join([scripts, os.environ.get("PATH", "")]),
    }
    (base / "dagster").mkdir(parents=True, exist_ok=True)
    dagster = shutil.which("dagster", path=str(Path(sys.executable).parent)) or "dagster"
    services = {
        "HTTP loader  http://127.0.0.1:8000/docs": [*CLI, "serve", "--port", "8000"],
        "Dagster      http://127.0.0.1:3000": [
            dagster, "dev", "-m", "orchestration.definitions", "-p", "3000", "-h", "127.0.0.1",
        ],
        "Dashboard    http://127.0.0.1:8501": [*CLI, "dashboard", "--port", "8501"],
    }  # fmt: skip
    procs: list[subprocess.Popen] = []
    for name, cmd in services.items():
        procs.append(subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=env, start_new_session=True))
        print(f"started {name}")
    if token:
        print(f"\ndemo token for tenant acme (shown once): {token}")
        print(
            "post an event:  curl -H 'Authorization: Bearer <token>' "
            "-H 'Content-Type: application/json' --data @event.json http://127.0.0.1:8000/v1/events"
        )
    print(
        "OpenTelemetry exporters (README, 'Send events from your agent'):\n"
        "  export OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:8000\n"
        "  export OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf\n"
        f"  export OTEL_EXPORTER_OTLP_HEADERS='Authorization=Bearer%20{token or '<token>'}'"
    )
    print("\nCtrl-C stops everything.", flush=True)
    try:
        while all(p.poll() is None for p in procs):
            time.sleep(1)
        failed = [name for name, p in zip(services, procs, strict=True) if p.poll() is not None]
        print(f"demo: {', '.join(failed)} stopped; stopping the rest", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--tenants", type=int, default=3)
    parser.add_argument(
        "--no-services", action="store_true", help="prepare the data and stop after the build"
    )
    args = parser.parse_args(argv)
    token = prepare(args.days, args.tenants)
    if not args.no_services:
        start_services(token)
    return 0


if __name__ == "__main__":
    sys.exit(main())
