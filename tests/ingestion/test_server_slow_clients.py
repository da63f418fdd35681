"""The HTTP loader keeps serving while clients send their headers or bodies slowly."""

from __future__ import annotations

import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson

from tests.conftest import make_event
from tests.ingestion.test_server import ServerProcess, create_token


def slow_post(port: int, token: str, gap: float) -> int:
    """POST a 200-byte body one byte every `gap` seconds; the status the server answers."""
    body = b" " * 200
    head = (
        f"POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(head)
        for byte in body:
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                break
            sock.settimeout(gap)
            try:
                answer = sock.recv(4096)
            except TimeoutError:
                continue
            return int(answer.split(b" ", 2)[1]) if answer else 0
        sock.settimeout(60)
        answer = sock.recv(4096)
        return int(answer.split(b" ", 2)[1]) if answer else 0


def slow_headers(port: int) -> bytes:
    """Send half a request line, then wait: what the server does (b"" once it closed)."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(b"POST /v1/ev")
        return sock.recv(4096)


def test_64_slow_clients_do_not_starve_a_normal_request(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    slow_token, token = create_token(data_dir, "acme"), create_token(data_dir, "globex")
    server = ServerProcess(
        data_dir,
        "--body-timeout",
        "3",
        "--header-timeout",
        "3",
        "--max-per-client",
        "48",
        "--flush-interval",
        "0.2",
    ).start()
    try:
        with ThreadPoolExecutor(max_workers=66) as pool:
            slow = [pool.submit(slow_post, server.port, slow_token, 1.0) for _ in range(64)]
            stalled = pool.submit(slow_headers, server.port)
            time.sleep(1.0)  # every slow client is connected and sending
            with server.http(token) as client:
                body = orjson.dumps(
                    make_event(
                        event_id="normal",
                        tenant={"tenant_id": "globex", "workspace_id": "w", "project_id": "p"},
                    )
                )
                r = client.post(
                    "/v1/events", content=body, headers={"Content-Type": "application/json"}
                )
            assert (r.status_code, r.json()["accepted"]) == (202, 1)
            statuses = sorted(f.result() for f in slow)
            assert stalled.result() == b""  # closed: its headers never came
        assert statuses == [408] * 48 + [429] * 16
    finally:
        assert server.stop(), server.log.read_text()[-3000:]
