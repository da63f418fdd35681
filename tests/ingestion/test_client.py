"""The producer client: retries as the server says, spools when it is away, never loses events."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from ingestion.producers.client import AgentOpsClient, AgentOpsError
from tests.ingestion.test_server import (
    ServerProcess,
    create_token,
    ev,
    free_port,
    lake_ids,
)


class Scripted:
    """A real HTTP server on 127.0.0.1 answering POSTs from a script of (status, headers)."""

    def __init__(self, script: list[tuple[int, dict[str, str]]]):
        self.script = list(script)
        self.bodies: list[list[bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                lines = [ln for ln in body.split(b"\n") if ln]
                outer.bodies.append(lines)
                status, headers = outer.script.pop(0) if outer.script else (202, {})
                answer = orjson.dumps({"accepted": len(lines), "duplicates": 0, "rejected": 0})
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def sleeps() -> list[float]:
    return []


def client(url: str, tmp_path: Path, sleeps: list[float], **kw: Any) -> AgentOpsClient:
    return AgentOpsClient(
        url, "aow_test", spool_path=tmp_path / "spool.jsonl", sleep=sleeps.append, **kw
    )


def test_retries_429_and_503_honouring_retry_after_then_succeeds(
    tmp_path: Path, sleeps: list[float]
) -> None:
    server = Scripted([(429, {"Retry-After": "3"}), (503, {"Retry-After": "1"}), (500, {})])
    try:
        c = client(server.url, tmp_path, sleeps, batch_size=10, backoff_base=0.01)
        for i in range(25):
            c.send(ev(f"r{i}"))
        c.close()
    finally:
        server.close()
    assert sleeps[0] >= 3 and sleeps[1] >= 1 and 0 <= sleeps[2] <= 0.04
    assert len(server.bodies) == 6  # 3 failed tries of the first batch, then 10, 10, 5
    assert server.bodies[0] == server.bodies[3]  # the same batch, re-sent whole
    sent = [orjson.loads(line)["event_id"] for body in server.bodies[3:] for line in body]
    assert sent == [f"r{i}" for i in range(25)]
    assert (c.stats.accepted, c.stats.retries, c.stats.spooled) == (25, 3, 0)


def test_an_unreachable_loader_spools_and_the_spool_drains_later(
    tmp_path: Path, sleeps: list[float]
) -> None:
    port = free_port()  # nothing listens there yet
    data_dir = tmp_path / "data"
    token = create_token(data_dir, "acme")
    c = AgentOpsClient(
        f"http://127.0.0.1:{port}",
        token,
        batch_size=20,
        spool_path=tmp_path / "spool.jsonl",
        max_retries=2,
        backoff_base=0.001,
        sleep=sleeps.append,
    )
    for i in range(50):
        c.send(ev(f"spool-{i}"))
    c.flush()
    assert c.stats.spooled == 50 and c.spool_pending()
    assert token not in (tmp_path / "spool.jsonl").read_text()
    server = ServerProcess(data_dir, "--flush-interval", "0.2", port=port).start()
    try:
        c.send(ev("spool-50"))
        c.flush()  # the spool first, then the new event
        assert not c.spool_pending() and c.stats.accepted == 51
        for i in range(10):  # re-sending is harmless: the loader counts duplicates
            c.send(ev(f"spool-{i}"))
        c.close()
        assert c.stats.duplicates == 10
        server.wait_flushed()
    finally:
        assert server.stop()
    assert lake_ids(data_dir) == sorted(f"spool-{i}" for i in range(51))


def mock(handler: Any) -> httpx.MockTransport:
    return httpx.MockTransport(handler)


def lines_of(request: httpx.Request) -> list[bytes]:
    body = request.content
    if request.headers.get("Content-Encoding") == "gzip":
        body = gzip.decompress(body)
    return [ln for ln in body.split(b"\n") if ln]


def test_413_splits_the_batch_and_dead_letters_a_single_oversized_event(
    tmp_path: Path, sleeps: list[float]
) -> None:
    seen: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        lines = lines_of(request)
        seen.append(len(lines))
        if len(lines) > 2 or any(b"huge" in ln for ln in lines):
            return httpx.Response(413, json={"reason_code": "body_too_large"})
        return httpx.Response(202, json={"accepted": len(lines), "duplicates": 0})

    c = client("http://loader", tmp_path, sleeps, batch_size=100, transport=mock(handler))
    for i in range(5):
        c.send(ev(f"s{i}"))
    c.send(ev("huge"))
    c.close()
    assert c.stats.accepted == 5 and c.stats.dead_lettered == 1
    assert b"huge" in (tmp_path / "spool.rejected.jsonl").read_bytes()
    assert seen[0] == 6


def test_partial_rejections_are_reported_and_not_resent(
    tmp_path: Path, sleeps: list[float]
) -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        assert request.url.params["partial"] == "true"
        error = {"index": 1, "event_id": "b", "reason_code": "missing_field", "errors": []}
        return httpx.Response(207, json={"accepted": 1, "rejected": 1, "errors": [error]})

    c = client("http://loader/v1/events", tmp_path, sleeps, transport=mock(handler))
    c.send(ev("a"))
    c.send(b'{"event_id": "b"}')
    c.close()
    assert len(calls) == 1 and calls[0].url.path == "/v1/events"
    assert c.stats.rejected == 1 and c.rejections[0]["reason_code"] == "missing_field"
    assert not c.spool_pending()


def test_a_refused_token_raises_and_keeps_the_events(tmp_path: Path, sleeps: list[float]) -> None:
    status = {"code": 401}

    def handler(request: httpx.Request) -> httpx.Response:
        if status["code"] == 401:
            return httpx.Response(401, json={"reason_code": "invalid_token"})
        return httpx.Response(202, json={"accepted": len(lines_of(request))})

    c = client("http://loader", tmp_path, sleeps, transport=mock(handler))
    c.send(ev("t1"))
    with pytest.raises(AgentOpsError, match="401"):
        c.flush()
    assert c.spool_pending()
    status["code"] = 202
    c.send(ev("t2"))
    c.close()
    assert c.stats.accepted == 2 and not c.spool_pending()
    assert "aow_test" not in repr(c)


@pytest.fixture(autouse=True)
def _no_real_home_spool(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setattr(
        "ingestion.producers.client.DEFAULT_SPOOL", tmp_path / "default-spool.jsonl"
    )
    yield
