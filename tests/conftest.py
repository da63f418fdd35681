"""Shared test helpers: a valid event factory and an isolated data directory."""

from __future__ import annotations

import copy
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

BASE_EVENT: dict[str, Any] = {
    "event_version": "0",
    "event_id": "evt-0001",
    "event_type": "model_call.completed",
    "occurred_at": "2026-11-20T10:00:00Z",
    "tenant": {"tenant_id": "acme", "workspace_id": "acme-prod", "project_id": "support-bot"},
    "run": {"run_id": "run-1", "agent_id": "agent-a", "workflow_id": "triage"},
    "trace": {
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "span_id": "00f067aa0ba902b7",
        "parent_span_id": "a3ce929d0e0e4736",
    },
    "model_call": {"model_call_id": "mc-1", "provider": "openai", "model": "gpt-4o"},
    "resource_usage": {"input_tokens": 1000, "output_tokens": 200, "cached_tokens": 100},
}


def make_event(**overrides: Any) -> dict[str, Any]:
    """A valid model_call.completed event; keyword arguments replace top-level fields.

    A value of `...` removes the field.
    """
    ev = copy.deepcopy(BASE_EVENT)
    for k, v in overrides.items():
        if v is ...:
            ev.pop(k, None)
        else:
            ev[k] = v
    return ev


def jsonl(events: list[Any]) -> bytes:
    return b"".join((e if isinstance(e, bytes) else orjson.dumps(e)) + b"\n" for e in events)


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    monkeypatch.setenv("AGENTOPS_DATA_DIR", str(d))
    return d


@pytest.fixture(scope="session")
def two_tenants(tmp_path_factory: pytest.TempPathFactory):
    """Two tenants sharing every id and name, loaded by file and HTTP, built (session-wide)."""
    from tests.two_tenants import build_corpus

    return build_corpus(tmp_path_factory)


# Parallel runs (`make test`: pytest-xdist, `--dist loadfile`): each test file runs whole on
# one worker, so its module fixtures are built once (a session fixture once per worker that
# needs it). Spark's parity test is the longest: it starts first, and the other Spark test
# last, so that the other worker takes the rest beside it and two Spark sessions rarely meet.
SPARK_FIRST = "tests/warehouse/test_spark_parity.py"
SPARK_LAST = "tests/orchestration/test_engine_spark.py"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    def order(item: pytest.Item) -> int:
        path = item.nodeid.split("::", 1)[0]
        return {SPARK_FIRST: 0, SPARK_LAST: 2}.get(path, 1)

    items.sort(key=order)


@pytest.fixture(autouse=True)
def _main_module_kept() -> Iterator[None]:
    """Streamlit's AppTest leaves the app's script as `__main__`; a loader worker started
    after that (forkserver) would run the app first. Each test ends with pytest's own."""
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


def pytest_configure(config: pytest.Config) -> None:
    """Parse the dbt project for Dagster once, in the process that starts the workers."""
    if config.getoption("numprocesses", None) and not hasattr(config, "workerinput"):
        from orchestration.project import ensure_manifest

        ensure_manifest(force=True)
