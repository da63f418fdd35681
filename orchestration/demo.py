"""`make demo`: the whole product on a recent week of synthetic data, one command.

Generates a week for three tenants (unless the lake already holds events), loads it, builds
and publishes the warehouse, creates a demo token (once: it is stored hashed and shown only
when made), then starts the HTTP loader, Dagster and the dashboard and waits.

Stopping: Ctrl-C (SIGINT), SIGTERM and SIGHUP stop every process the demo started. Each
service runs in a process group of its own, and the demo signals the whole group (`killpg`),
so Dagster's webserver, daemon and code servers go with it; a service that dies with the demo
killed by SIGKILL gets SIGTERM from the kernel (parent-death signal). A service that cannot
start (a port in use, the loader's write-ahead-log lock held by another loader) stops the demo
with a message naming it and exit status 1. `--no-services` stops after the build.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from ingestion.settings import PROJECT_ROOT, data_dir

CLI = [sys.executable, "-m", "orchestration.cli"]
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
START_TIMEOUT_SECONDS = 120.0
STOP_TIMEOUT_SECONDS = 20.0


class DemoError(Exception):
    """The demo cannot go on; the message says what and what to do."""


class Stop(BaseException):
    """A stop signal arrived (raised from the signal handler)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_stop(signum: int, _frame: FrameType | None) -> None:
    raise Stop(signum)


def _run(step: str, args: list[str], capture: bool = False) -> str:
    print(f"\n== {step}: agentops-wh {' '.join(args)}", flush=True)
    proc = subprocess.run([*CLI, *args], cwd=PROJECT_ROOT, text=True, capture_output=capture)
    if proc.returncode != 0:
        if capture:
            sys.stderr.write(proc.stdout + proc.stderr)
        raise DemoError(f"`{step}` failed (exit {proc.returncode}); see the output above")
    return proc.stdout if capture else ""


def prepare(days: int, tenants: int, runs_per_day: int | None = None) -> str | None:
    """Generate (if the lake is empty), load and build. Returns a demo token if one was made.

    The generated file is written outside the landing folder (Dagster's landing sensor would
    see it again) and deleted once loaded: the lake holds the events.
    """
    base = data_dir()
    lake_has_events = any((base / "lake" / "events").rglob("*.parquet"))
    if not lake_has_events:
        with tempfile.TemporaryDirectory(prefix="demo-input-", dir=base) as tmp:
            _run(
                "generate a recent week",
                [
                    "generate", "--seed", "42", "--tenants", str(tenants), "--days", str(days),
                    "--invalid-rate", "0.002", "--duplicate-rate", "0.002",
                    "--out", str(Path(tmp) / "demo-week.jsonl"),
                    *(["--runs-per-day", str(runs_per_day)] if runs_per_day else []),
                ],
            )  # fmt: skip
            _run("load it", ["load", "--final", tmp])
    else:
        print(f"== the lake under {base} already holds events: reusing them")
    _run("build and publish the warehouse", ["build"])
    if (base / "tokens.json").exists():
        return None
    out = _run("create a demo token", ["token", "create", "--tenant", "acme"], capture=True)
    return next((w for w in out.split() if w.startswith("aow_")), None)


@dataclass
class Service:
    name: str
    port: int
    cmd: list[str]
    health: str  # path answered 200 once it is up
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def services(serve_port: int, dagster_port: int, dashboard_port: int) -> list[Service]:
    dagster = shutil.which("dagster", path=str(Path(sys.executable).parent)) or "dagster"
    return [
        Service("HTTP loader", serve_port, [*CLI, "serve", "--port", str(serve_port)], "/healthz"),
        Service(
            "Dagster", dagster_port,
            [dagster, "dev", "-m", "orchestration.definitions", "-p", str(dagster_port),
             "-h", "127.0.0.1"],
            "/server_info",
        ),
        Service(
            "Dashboard", dashboard_port, [*CLI, "dashboard", "--port", str(dashboard_port)],
            "/_stcore/health",
        ),
    ]  # fmt: skip


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _die_with_parent() -> None:
    """In the child before exec: its own process group, and SIGTERM if the demo dies."""
    os.setpgid(0, 0)
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass  # not Linux: the signal handlers still stop the services


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def check_ports(svcs: list[Service]) -> None:
    """A DemoError naming the services whose port is taken."""
    busy = [s for s in svcs if port_in_use(s.port)]
    if busy:
        listed = ", ".join(f"{s.name} on port {s.port}" for s in busy)
        raise DemoError(
            f"cannot start {listed}: the port is in use (another `make demo` still running?). "
            "Stop what holds it, or pick other ports (--serve-port, --dagster-port, "
            "--dashboard-port)."
        )


def start(svcs: list[Service], env: dict[str, str], timeout: float) -> None:
    """Start each service and wait until it answers; a DemoError if one cannot start."""
    check_ports(svcs)
    for s in svcs:
        s.proc = subprocess.Popen(s.cmd, cwd=PROJECT_ROOT, env=env, preexec_fn=_die_with_parent)
    deadline = time.monotonic() + timeout
    waiting = list(svcs)
    while waiting:
        for s in list(waiting):
            assert s.proc is not None
            if s.proc.poll() is not None:
                raise DemoError(
                    f"{s.name} could not start (exit {s.proc.returncode}); its message is above "
                    "(a port in use, or the data directory's lock held by another process?)"
                )
            if _answers(s.url + s.health):
                print(f"started {s.name:<12} {s.url}", flush=True)
                waiting.remove(s)
        if waiting and time.monotonic() > deadline:
            names = ", ".join(s.name for s in waiting)
            raise DemoError(f"{names} did not answer within {timeout:.0f} s")
        time.sleep(0.5)


def stop(svcs: list[Service], timeout: float = STOP_TIMEOUT_SECONDS) -> None:
    """SIGTERM every service's process group, then SIGKILL what is left after `timeout`."""
    started = [s for s in svcs if s.proc is not None]
    for s in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(s.proc.pid, signal.SIGTERM)  # type: ignore[union-attr]
    deadline = time.monotonic() + timeout
    for s in started:
        with contextlib.suppress(subprocess.TimeoutExpired):
            s.proc.wait(timeout=max(0.1, deadline - time.monotonic()))  # type: ignore[union-attr]
    for s in started:
        # The group, not only its leader: a leader gone may leave children behind.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(s.proc.pid, signal.SIGKILL)  # type: ignore[union-attr]
        s.proc.wait()  # type: ignore[union-attr]


def print_access(token: str | None, serve_url: str) -> None:
    """How to send events: the token (only when just made: it is stored hashed) once."""
    if token:
        print("\ndemo token for tenant acme (shown once, stored hashed):")
        print(f"  export AGENTOPS_TOKEN={token}")
    else:
        print(
            "\nThe demo token was shown when it was made (it is stored hashed). "
            "Another one for tenant acme:\n"
            f"  export AGENTOPS_TOKEN=$(AGENTOPS_DATA_DIR={data_dir()} .venv/bin/agentops-wh "
            "token create --tenant acme | tail -1)"
        )
    print(
        'post an event:  curl -H "Authorization: Bearer $AGENTOPS_TOKEN" '
        f"-H 'Content-Type: application/json' --data @event.json {serve_url}/v1/events\n"
        "OpenTelemetry exporters (README, 'Send events from your agent'):\n"
        f"  export OTEL_EXPORTER_OTLP_ENDPOINT={serve_url}\n"
        "  export OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf\n"
        '  export OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer%20$AGENTOPS_TOKEN"'
    )


def run_services(token: str | None, svcs: list[Service]) -> int:
    """Start the services, wait until one stops or a stop signal arrives, stop them all."""
    base = data_dir()
    scripts = str(Path(sys.executable).parent)  # `dagster dev` parses with the `dbt` there
    dagster_port = next(s.port for s in svcs if s.name == "Dagster")
    dashboard_port = next(s.port for s in svcs if s.name == "Dashboard")
    env = {
        **os.environ,
        "AGENTOPS_DATA_DIR": str(base),
        "DAGSTER_HOME": str(base / "dagster"),
        "PATH": os.pathsep.join([scripts, os.environ.get("PATH", "")]),
        "AGENTOPS_BUDGETS_URL": os.environ.get(
            "AGENTOPS_BUDGETS_URL", f"http://127.0.0.1:{dashboard_port}/budgets"
        ),
    }
    (base / "dagster").mkdir(parents=True, exist_ok=True)
    try:
        start(svcs, env, START_TIMEOUT_SECONDS)
        print(f"Dagster UI     http://127.0.0.1:{dagster_port}")
        print_access(token, next(s.url for s in svcs if s.name == "HTTP loader"))
        print("\nCtrl-C stops everything.", flush=True)
        while True:
            gone = [s for s in svcs if s.proc is not None and s.proc.poll() is not None]
            if gone:
                names = ", ".join(f"{s.name} (exit {s.proc.poll()})" for s in gone)
                raise DemoError(f"{names} stopped; stopping the rest")
            time.sleep(0.5)
    except Stop as sig:
        print(f"\ndemo: {sig} received; stopping every service", file=sys.stderr, flush=True)
        return 0 if sig.signum == signal.SIGINT else 128 + sig.signum
    finally:
        # No second signal interrupts the stop half-way.
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)
        stop(svcs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--tenants", type=int, default=3)
    parser.add_argument("--runs-per-day", type=int, help="default: the generator's")
    parser.add_argument("--serve-port", type=int, default=8000)
    parser.add_argument("--dagster-port", type=int, default=3000)
    parser.add_argument("--dashboard-port", type=int, default=8501)
    parser.add_argument(
        "--no-services", action="store_true", help="prepare the data and stop after the build"
    )
    args = parser.parse_args(argv)
    for signum in STOP_SIGNALS:
        signal.signal(signum, _raise_stop)
    svcs = services(args.serve_port, args.dagster_port, args.dashboard_port)
    try:
        if not args.no_services:
            check_ports(svcs)  # said before a long build, not after
        token = prepare(args.days, args.tenants, args.runs_per_day)
        if args.no_services:
            if token:
                print(f"\ndemo token for tenant acme (shown once, stored hashed): {token}")
            return 0
        return run_services(token, svcs)
    except DemoError as exc:
        print(f"demo: {exc}", file=sys.stderr, flush=True)
        return 1
    except Stop as sig:
        print(f"\ndemo: {sig} received; stopped", file=sys.stderr, flush=True)
        return 0 if sig.signum == signal.SIGINT else 128 + sig.signum


if __name__ == "__main__":
    sys.exit(main())
