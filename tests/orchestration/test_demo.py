"""`make demo` as a user runs it: the stack starts on free ports under a temporary data dir,
events posted over HTTP push a budget over its limit, they reach the published warehouse and
the dashboard answers, exactly one alert reaches a local Slack-compatible receiver, and a
SIGTERM to the demo leaves no process behind. Plus: a port in use stops the demo at once with
a message and exit status 1.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from ingestion.settings import PROJECT_ROOT
from tests.orchestration import slack_server

pytestmark = pytest.mark.slow

BUDGETS = (
    "budget_id,tenant_id,scope,scope_id,period,limit_usd,thresholds,enforcement,destination\n"
    'smoke,acme,project,smoke-proj,daily,0.01,"100",alert,slack:#smoke\n'
)


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def processes_of(data_dir: Path) -> list[str]:
    """Processes (pid and command) whose environment names this data directory."""
    marker = f"AGENTOPS_DATA_DIR={data_dir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                found.append(f"{entry.name}: {cmd[:200]}")
        except OSError:
            continue
    return found


def wait_for(
    what: str, check: Callable[[], Any], timeout: float, log: Path, demo: subprocess.Popen
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        if demo.poll() is not None:
            pytest.fail(f"the demo exited ({demo.returncode}):\n{log.read_text()[-4000:]}")
        time.sleep(1)
    pytest.fail(f"timed out waiting for {what}; demo output:\n{log.read_text()[-4000:]}")


def event(i: int, now: datetime) -> dict[str, Any]:
    return {
        "event_version": "0",
        "event_id": f"smoke-{i}",
        "event_type": "model_call.completed",
        "occurred_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "tenant": {"tenant_id": "acme", "workspace_id": "prod", "project_id": "smoke-proj"},
        "run": {"run_id": "smoke-run", "agent_id": "smoke-agent"},
        "trace": {
            "trace_id": uuid.uuid4().hex,
            "span_id": "00f067aa0ba902b7",
            "parent_span_id": None,
        },
        "model_call": {"model_call_id": f"smoke-mc-{i}", "provider": "openai", "model": "gpt-4o"},
        "resource_usage": {"input_tokens": 100_000, "output_tokens": 1000},
    }


def in_warehouse(data_dir: Path, ids: list[str]) -> bool:
    path = data_dir / "warehouse.duckdb"
    if not path.exists():
        return False
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error:
        return False
    try:
        marks = ",".join("?" * len(ids))
        (n,) = con.execute(
            f"select count(*) from marts.fct_model_calls where tenant_id = 'acme'"
            f" and model_call_id in ({marks})",
            ids,
        ).fetchone()
        return n == len(ids)
    except duckdb.Error:
        return False
    finally:
        con.close()


def get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.status, resp.read().decode()


@pytest.fixture
def demo_env(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    data = tmp_path / "data"
    data.mkdir()
    (tmp_path / "budgets.csv").write_text(BUDGETS)
    env = {
        **os.environ,
        "AGENTOPS_DATA_DIR": str(data),
        "AGENTOPS_BUDGETS_FILE": str(tmp_path / "budgets.csv"),
        "AGENTOPS_RELIABILITY_MIN_RUNS": "100000",  # the synthetic failures alert no workflow
        "AGENTOPS_ALERT_MIN_INTERVAL_SECONDS": "0",
    }
    return data, env


def test_the_demo_end_to_end_and_nothing_is_left_running(
    demo_env: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    data, env = demo_env
    slack = slack_server.FakeSlack()
    server = slack_server.start(slack)
    env["AGENTOPS_ALERT_ROUTES"] = json.dumps({"slack:#smoke": f"{slack.url}/routes/smoke"})
    env["SLACK_WEBHOOK_URL"] = f"{slack.url}/services/default"
    serve, dagster, dashboard = free_ports(3)
    log = tmp_path / "demo.log"
    cmd = [
        sys.executable, "-m", "orchestration.demo", "--days", "1", "--tenants", "1",
        "--runs-per-day", "48", "--serve-port", str(serve), "--dagster-port", str(dagster),
        "--dashboard-port", str(dashboard),
    ]  # fmt: skip
    with log.open("w") as out:
        demo = subprocess.Popen(
            cmd, cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        wait_for(
            "the services", lambda: "Ctrl-C stops everything." in log.read_text(), 240, log, demo
        )
        text = log.read_text()
        tokens = [w.split("=", 1)[1] for w in text.split() if w.startswith("AGENTOPS_TOKEN=aow_")]
        assert len(tokens) == 1 and text.count("aow_") == 1, text  # shown once, and only once
        assert not list((data / "landing").rglob("*.jsonl"))  # no generated input left there

        now = datetime.now(UTC)
        events = [event(i, now) for i in range(2)]
        request = urllib.request.Request(
            f"http://127.0.0.1:{serve}/v1/events",
            data=json.dumps(events).encode(),
            headers={"Authorization": f"Bearer {tokens[0]}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert resp.status == 202
        ids = [e["model_call"]["model_call_id"] for e in events]
        wait_for("the events in the warehouse", lambda: in_warehouse(data, ids), 300, log, demo)

        assert get(f"http://127.0.0.1:{dashboard}/_stcore/health") == (200, "ok")
        status, page = get(f"http://127.0.0.1:{dashboard}/budgets")
        assert status == 200 and "<title>" in page

        wait_for("the alert", lambda: slack.delivered, 120, log, demo)
        time.sleep(12)  # a second alert sensor tick sends nothing more
        assert [(r.path, r.body["text"]) for r in slack.received] == [
            ("/routes/smoke", "Budget smoke crossed 100% of its limit")
        ]
    finally:
        if demo.poll() is None:
            demo.send_signal(signal.SIGTERM)
        code = demo.wait(timeout=60)
        server.shutdown()
        server.server_close()
    assert code == 128 + signal.SIGTERM
    assert "SIGTERM received; stopping every service" in log.read_text()
    time.sleep(1)
    assert processes_of(data) == []


def test_a_port_in_use_stops_the_demo_with_a_message(
    demo_env: tuple[Path, dict[str, str]],
) -> None:
    _, env = demo_env
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    serve, dagster = free_ports(2)
    try:
        proc = subprocess.run(
            [
                sys.executable, "-m", "orchestration.demo", "--serve-port", str(serve),
                "--dagster-port", str(dagster), "--dashboard-port",
                str(taken.getsockname()[1]),
            ],
            cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    finally:
        taken.close()
    assert proc.returncode == 1
    assert "cannot start Dashboard on port" in proc.stderr
    assert "the port is in use" in proc.stderr
    assert "== build" not in proc.stdout  # refused before any work


def test_a_second_demo_says_how_to_get_a_token(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from orchestration.demo import print_access

    monkeypatch.setenv("AGENTOPS_DATA_DIR", str(tmp_path))
    print_access(None, "http://127.0.0.1:8000")
    out = capsys.readouterr().out
    assert "aow_" not in out
    assert (
        f"export AGENTOPS_TOKEN=$(AGENTOPS_DATA_DIR={tmp_path} .venv/bin/agentops-wh token create"
        " --tenant acme | tail -1)" in out
    )
    print_access("aow_abc", "http://127.0.0.1:8000")
    assert capsys.readouterr().out.count("aow_abc") == 1  # shown once
