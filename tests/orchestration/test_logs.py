"""Structured logs: one event followed from its HTTP request to the published warehouse by
grepping its id (then its load id), in JSON lines; the text format; bad settings refused."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import duckdb
import orjson
import pytest

from ingestion.logs import JsonFormatter, TextFormatter, configure, log_format, log_level
from orchestration.warehouse.build import build
from tests.ingestion.test_server import ServerProcess, create_token

pytestmark = pytest.mark.slow

EVENT_ID = "follow-me-7f3a"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def lines_with(text: str, needle: str) -> list[dict]:
    return [orjson.loads(line) for line in text.splitlines() if needle in line]


def test_one_event_followed_from_request_to_warehouse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("AGENTOPS_LOG_FORMAT", "json")
    token = create_token(data, "acme")
    server = ServerProcess(data, "--flush-interval", "0.2").start()
    event = {
        "event_version": "0", "event_id": EVENT_ID, "event_type": "run.started",
        "occurred_at": "2026-11-20T10:00:00Z",
        "tenant": {"tenant_id": "acme", "workspace_id": "prod", "project_id": "bot"},
        "run": {"run_id": "run-follow", "agent_id": "triage"},
        "trace": {"trace_id": TRACE_ID, "span_id": "00f067aa0ba902b7", "parent_span_id": None},
    }  # fmt: skip
    try:
        with server.http(token) as client:
            assert client.post("/v1/events", json=event).status_code == 202
        server.wait_flushed()
    finally:
        assert server.stop(), server.log.read_text()[-3000:]
    server_log = server.log.read_text()

    # 1. The request: accepted into the write-ahead log, with its tenant, trace and run.
    accepted, flushed = lines_with(server_log, f"acme/{EVENT_ID}")
    assert accepted["logger"] == "agentops.server" and accepted["level"] == "INFO"
    assert accepted["message"] == "accepted 1 event(s) into the write-ahead log"
    assert (accepted["tenant_id"], accepted["trace_id"], accepted["run_id"]) == (
        ["acme"],
        [TRACE_ID],
        ["run-follow"],
    )
    # 2. The lake: the flush names the segment and the load id.
    assert flushed["logger"] == "agentops.wal"
    assert flushed["wal_segments"] == [accepted["wal_segment"]]
    assert flushed["event_ids"] == [f"acme/{EVENT_ID}"]
    load_id = flushed["load_id"]

    # 3. The warehouse: the publish names the load.
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("agentops")
    logger.addHandler(handler)
    level, logger.level = logger.level, logging.INFO
    try:
        result = build(data)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert result.success, result.summary()
    (published,) = lines_with(out.getvalue(), load_id)
    assert published["logger"] == "agentops.build"
    assert published["message"].startswith(f"published {data / 'warehouse.duckdb'}")
    assert published["load_id"] == [load_id]
    con = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
    try:
        assert con.execute(
            "select tenant_id, event_id, trace_id from marts.fct_events where event_id = ?",
            [EVENT_ID],
        ).fetchall() == [("acme", EVENT_ID, TRACE_ID)]
    finally:
        con.close()


def test_formats_and_levels_from_the_environment() -> None:
    record = logging.LogRecord("agentops.x", logging.INFO, __file__, 1, "hi %s", ("you",), None)
    record.load_id = "L1"
    doc = orjson.loads(JsonFormatter().format(record))
    assert (doc["level"], doc["logger"], doc["message"], doc["load_id"]) == (
        "INFO", "agentops.x", "hi you", "L1"
    )  # fmt: skip
    assert doc["ts"].endswith("+00:00")
    assert TextFormatter().format(record).endswith(" INFO agentops.x: hi you load_id=L1")
    assert log_format({}) == "json" and log_format({"AGENTOPS_LOG_FORMAT": "TEXT"}) == "text"
    assert log_level({"AGENTOPS_LOG_LEVEL": "warning"}) == logging.WARNING
    with pytest.raises(ValueError, match="AGENTOPS_LOG_FORMAT='xml': write json or text"):
        log_format({"AGENTOPS_LOG_FORMAT": "xml"})
    with pytest.raises(ValueError, match="AGENTOPS_LOG_LEVEL='LOUD'"):
        log_level({"AGENTOPS_LOG_LEVEL": "loud"})
    configure({"AGENTOPS_LOG_LEVEL": "ERROR"})
    assert logging.getLogger("agentops").level == logging.ERROR
    configure({})
    assert logging.getLogger("agentops").level == logging.INFO
