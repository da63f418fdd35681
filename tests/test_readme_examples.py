"""The README's "Send events from your agent" examples, run as written against a served loader.

The OpenTelemetry example with only the `OTEL_*` environment variables of the README, the
agent SDK example, and the JSONL example: each must land in the lake under the token's tenant.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.ingestion.test_server import ServerProcess, create_token

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


def examples() -> list[tuple[str, str]]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Send events from your agent") :]
    section = section[: section.index("\n## ", 5)]
    return re.findall(r"```(\w+)\n(.*?)```", section, re.S)


def test_the_three_ways_in_work_as_written(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    token = create_token(data, "acme")
    server = ServerProcess(data, "--flush-interval", "0.2").start()
    env = {**os.environ, "AGENTOPS_DATA_DIR": str(data), "AGENTOPS_TOKEN": token}
    env.pop("OTEL_SDK_DISABLED", None)
    [(_, exports), (_, otel), (_, sdk), (_, jsonl)] = examples()
    for name, value in re.findall(r"^export (\w+)=(\S+)", exports, re.M):
        value = value.strip('"').replace("$AGENTOPS_TOKEN", token).replace("aow_...", token)
        env[name] = value.replace("127.0.0.1:8000", f"127.0.0.1:{server.port}")
    jsonl = jsonl.replace("/tmp/events.jsonl", str(tmp_path / "events.jsonl"))
    try:
        for code in (otel, sdk.replace("127.0.0.1:8000", f"127.0.0.1:{server.port}")):
            run = subprocess.run(
                [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True
            )
            assert run.returncode == 0, run.stderr[-3000:]
        run = subprocess.run(["bash", "-c", jsonl], env=env, cwd=ROOT, capture_output=True)
        assert run.returncode == 0, run.stderr[-3000:]
        server.wait_flushed()
    finally:
        assert server.stop(), server.log.read_text()[-3000:]
    files = str(data / "lake" / "events" / "*" / "*.parquet")
    got = (
        duckdb.connect()
        .sql(
            "select event_type, tenant.tenant_id, tenant.workspace_id, tenant.project_id, "
            f"run.agent_id, count(*) from read_parquet('{files}') group by all order by all"
        )
        .fetchall()
    )
    assert got == [
        ("model_call.completed", "acme", "prod", "support-bot", "support-bot", 1),  # OTel
        ("model_call.completed", "acme", "prod", "support-bot", "triage", 2),  # SDK, JSONL
        ("policy.decision", "acme", "prod", "support-bot", "triage", 1),
        ("run.completed", "acme", "prod", "support-bot", "triage", 2),  # OTel agent, SDK
        ("run.started", "acme", "prod", "support-bot", "triage", 2),
        ("step.completed", "acme", "prod", "support-bot", "triage", 1),
        ("step.started", "acme", "prod", "support-bot", "triage", 1),
        ("tool_call.completed", "acme", "prod", "support-bot", "triage", 1),
    ]
