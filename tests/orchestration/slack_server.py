"""A local stand-in for Slack's incoming-webhook endpoint, for tests.

It speaks the protocol: POST a JSON body, get `200 ok`; or, as scripted, `429` with a
`Retry-After` header, `500`, or `404 no_service` (a deleted webhook). Every request is recorded
with the answer it got, so tests can count deliveries exactly.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: str = "ok"
    headers: tuple[tuple[str, str], ...] = ()


OK = Reply()
SERVER_ERROR = Reply(500, "internal_error")
NO_SERVICE = Reply(404, "no_service")


def rate_limited(retry_after: int) -> Reply:
    return Reply(429, "rate_limited", (("Retry-After", str(retry_after)),))


@dataclass
class Received:
    path: str
    body: dict[str, Any]
    status: int
    at: float


@dataclass
class FakeSlack:
    """The server's state: scripted replies (then 200 ok) and what it received."""

    script: deque[Reply] = field(default_factory=deque)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def reply_with(self, *replies: Reply) -> None:
        with self.lock:
            self.script.extend(replies)

    def next_reply(self) -> Reply:
        with self.lock:
            return self.script.popleft() if self.script else OK

    @property
    def delivered(self) -> list[dict[str, Any]]:
        """Bodies answered 2xx: the messages a channel actually shows."""
        return [r.body for r in self.received if 200 <= r.status < 300]

    def delivered_texts(self) -> list[str]:
        return [json.dumps(b) for b in self.delivered]


def start(state: FakeSlack) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server API
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            reply = state.next_reply()
            try:
                body = json.loads(raw)
            except json.JSONDecodeError:
                body = {"_raw": raw.decode("utf-8", "replace")}
                reply = Reply(400, "invalid_payload")
            with state.lock:
                state.received.append(Received(self.path, body, reply.status, time.time()))
            payload = reply.body.encode()
            self.send_response(reply.status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(payload)))
            for k, v in reply.headers:
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
