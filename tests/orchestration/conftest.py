"""Fixtures for the orchestration tests: a fresh dbt manifest, a fake Slack, a warehouse."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from orchestration.project import ensure_manifest
from tests.orchestration import slack_server

# The dbt project changes under us (other people edit models); parse it once per session so
# the asset definitions match it. Done at import: test modules import the definitions. Under
# pytest-xdist the controller parsed it before the workers started (tests/conftest.py).
if "PYTEST_XDIST_WORKER" not in os.environ:
    ensure_manifest(force=True)


@pytest.fixture
def slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[slack_server.FakeSlack]:
    """A fake Slack webhook at $SLACK_WEBHOOK_URL (/services/T0/B0/x) and a JSON webhook at
    $AGENTOPS_ALERT_WEBHOOK_URL (/hooks/json) on the same server."""
    state = slack_server.FakeSlack()
    server = slack_server.start(state)
    monkeypatch.setenv("SLACK_WEBHOOK_URL", f"{state.url}/services/T0/B0/x")
    monkeypatch.setenv("AGENTOPS_ALERT_WEBHOOK_URL", f"{state.url}/hooks/json")
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def fast_alerts(monkeypatch: pytest.MonkeyPatch) -> None:
    """No spacing between messages and no back-off, so a test's ticks follow each other."""
    monkeypatch.setenv("AGENTOPS_ALERT_MIN_INTERVAL_SECONDS", "0")
    monkeypatch.setenv("AGENTOPS_ALERT_RETRY_BACKOFF_SECONDS", "0")


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.ephemeral() as inst:
        yield inst


@pytest.fixture
def landing(data_dir: Path) -> Path:
    path = data_dir / "landing"
    path.mkdir()
    return path
