"""A small producer client for the HTTP loader that never loses an event.

    from ingestion.producers.client import AgentOpsClient

    with AgentOpsClient("http://127.0.0.1:8000", token) as client:
        client.send(event)          # batched; posts every `batch_size` events
        ...                         # close() (or leaving the block) flushes the rest

Batches go out as gzip NDJSON with `?partial=true`, so one bad event never holds back the
good ones (the server quarantines it; `client.rejections` lists it). Answers 408/425/429 and
5xx, timeouts and connection errors are retried with exponential backoff and full jitter,
waiting at least what `Retry-After` says. When the loader stays unreachable the batch is
appended (fsynced) to a local JSONL spool, and later flushes send the spool first, oldest
events first. Re-sending is safe: the loader answers an event it already has as a duplicate.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from ingestion.producers.retry_after import parse_retry_after

log = logging.getLogger("agentops.client")

RETRY_STATUSES = frozenset({408, 425, 429})
DEFAULT_SPOOL = Path.home() / ".cache" / "agentops-wh" / "spool.jsonl"


class AgentOpsError(Exception):
    """The loader refused the client itself (bad token, wrong tenant): fix the configuration.

    The batch that met the refusal is in the spool; it is sent again on the next flush.
    """


@dataclass
class ClientStats:
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    spooled: int = 0  # events written to the spool (they are sent later)
    retries: int = 0
    dead_lettered: int = 0  # events the loader can never take (bigger than its body limit)


@dataclass
class AgentOpsClient:
    """Batches events to `POST /v1/events`; see the module docstring for the guarantees."""

    url: str
    token: str = field(repr=False)  # never in a repr, a log or the spool
    batch_size: int = 500
    spool_path: str | Path | None = None
    timeout: float = 10.0
    max_retries: int = 5
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    max_retry_seconds: float = 60.0  # after this long on one batch, spool it and move on
    compress: bool = True
    transport: httpx.BaseTransport | None = None
    sleep: Callable[[float], None] = time.sleep
    stats: ClientStats = field(default_factory=ClientStats)
    rejections: list[dict[str, Any]] = field(default_factory=list)  # the latest 1000

    def __post_init__(self) -> None:
        base = self.url.rstrip("/")
        self.base_url = base.removesuffix("/v1/events")
        self.spool = Path(self.spool_path) if self.spool_path else DEFAULT_SPOOL
        self.dead_letter = self.spool.with_name(self.spool.stem + ".rejected.jsonl")
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=self.timeout,
            transport=self.transport,
            headers={"Authorization": f"Bearer {self.token}"},
        )
        self._buffer: list[bytes] = []
        self._lock = threading.RLock()
        self._next_attempt = 0.0  # while the loader is down, flushes go straight to the spool
        self._outage = 0

    # -- public API --------------------------------------------------------------------------

    def send(self, event: dict[str, Any] | bytes | str) -> None:
        """Queue one event (a dict, or its JSON text); posts when a batch is full."""
        if isinstance(event, str):
            event = event.encode()
        line = event if isinstance(event, bytes) else orjson.dumps(event, option=orjson.OPT_UTC_Z)
        if b"\n" in line:
            line = orjson.dumps(orjson.loads(line))
        with self._lock:
            self._buffer.append(line)
            if len(self._buffer) >= self.batch_size:
                self.flush()

    def flush(self) -> None:
        """Send what is queued (and the spool first). Whatever cannot be sent is spooled."""
        with self._lock:
            batch, self._buffer = self._buffer, []
            if self.spool_pending() and time.monotonic() >= self._next_attempt:
                try:
                    self._drain_spool()
                except AgentOpsError:
                    if batch:
                        self._spool(batch)
                    raise
            if not batch:
                return
            if self.spool_pending():  # keep the order: older spooled events go first
                self._spool(batch)
                return
            left, fatal = self._deliver(batch)
            if left:
                self._spool(left)
            if fatal is not None:
                raise fatal

    def close(self) -> None:
        """Flush, then release the connection. Events still spooled stay on disk."""
        try:
            self.flush()
        finally:
            self._http.close()
        if self.spool_pending():
            log.warning("%s holds events the loader has not taken yet", self.spool)

    def __enter__(self) -> AgentOpsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def spool_pending(self) -> bool:
        try:
            return self.spool.stat().st_size > 0
        except FileNotFoundError:
            return False

    def check_budget(
        self,
        tenant_id: str | None = None,
        workspace_id: str | None = None,
        project_id: str | None = None,
        agent_id: str | None = None,
    ) -> dict[str, Any]:
        """The loader's `GET /v1/budgets/check` answer: `allowed` is False past a block budget."""
        params = {
            k: v
            for k, v in {
                "tenant_id": tenant_id,
                "workspace_id": workspace_id,
                "project_id": project_id,
                "agent_id": agent_id,
            }.items()
            if v is not None
        }
        resp = self._http.get("/v1/budgets/check", params=params)
        if resp.status_code != 200:
            raise AgentOpsError(f"budget check answered {resp.status_code}: {resp.text[:300]}")
        return resp.json()

    # -- delivery ----------------------------------------------------------------------------

    def _deliver(self, lines: list[bytes]) -> tuple[list[bytes], AgentOpsError | None]:
        """Post one batch with retries; returns the lines the loader did not take, to spool."""
        body = b"\n".join(lines) + b"\n"
        headers = {"Content-Type": "application/x-ndjson"}
        if self.compress and len(body) > 1024:
            body = gzip.compress(body, compresslevel=5)
            headers["Content-Encoding"] = "gzip"
        started = time.monotonic()
        for attempt in range(self.max_retries + 1):
            try:
                resp = self._http.post("/v1/events?partial=true", content=body, headers=headers)
            except httpx.TransportError as exc:
                wait = self._backoff(attempt)
                reason = f"{type(exc).__name__}: {exc}"
            else:
                status = resp.status_code
                if status in (202, 207, 400):  # decided: stored, duplicate or quarantined
                    self._record(resp)
                    return [], None
                if status == 413:
                    return self._split(lines, resp)
                if status in (401, 403) or (status < 500 and status not in RETRY_STATUSES):
                    return lines, AgentOpsError(
                        f"the loader refused the batch ({status}): {resp.text[:300]}; it is "
                        f"kept in {self.spool} and sent again by the next flush"
                    )
                retry_after = parse_retry_after(resp.headers.get("Retry-After")) or 0.0
                wait = max(self._backoff(attempt), retry_after)
                reason = f"HTTP {status}"
            if attempt == self.max_retries or (
                time.monotonic() - started + wait > self.max_retry_seconds
            ):
                log.warning("loader unreachable (%s): spooling %d event(s)", reason, len(lines))
                self._outage += 1
                self._next_attempt = time.monotonic() + min(
                    self.backoff_max, self.backoff_base * 2**self._outage
                )
                return lines, None
            self.stats.retries += 1
            log.info("retrying in %.1fs (%s)", wait, reason)
            self.sleep(wait)
        return lines, None  # pragma: no cover - the loop always returns

    def _split(
        self, lines: list[bytes], resp: httpx.Response
    ) -> tuple[list[bytes], AgentOpsError | None]:
        """413: send the halves; one event alone over the limit goes to the dead-letter file."""
        if len(lines) == 1:
            log.error(
                "an event of %d bytes is over the loader's body limit; kept in %s",
                len(lines[0]),
                self.dead_letter,
            )
            _append_synced(self.dead_letter, lines)
            self.stats.dead_lettered += 1
            self.rejections = [*self.rejections, {"index": None, "status": 413}][-1000:]
            return [], None
        half = len(lines) // 2
        left, fatal = self._deliver(lines[:half])
        if left or fatal:  # the loader went away meanwhile: keep the rest as it is
            return left + lines[half:], fatal
        return self._deliver(lines[half:])

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with full jitter."""
        return random.uniform(0, min(self.backoff_max, self.backoff_base * 2**attempt))

    def _record(self, resp: httpx.Response) -> None:
        self._outage = 0
        try:
            answer = resp.json()
        except ValueError:
            answer = {}
        st = self.stats
        st.accepted += int(answer.get("accepted", 0))
        st.duplicates += int(answer.get("duplicates", 0))
        errors = answer.get("errors") or []
        if resp.status_code == 400 and not errors:  # the body as a whole was refused
            errors = [{"index": None, **answer}]
        st.rejected += int(answer.get("rejected", len(errors)))
        if errors:
            log.warning(
                "the loader quarantined %d event(s), first: %s",
                len(errors),
                errors[0].get("reason_code"),
            )
            self.rejections = [*self.rejections, *errors][-1000:]

    # -- spool -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _spool_locked(self) -> Iterator[None]:
        """Other processes may share the spool file: one of them works on it at a time."""
        self.spool.parent.mkdir(parents=True, exist_ok=True)
        with open(self.spool.with_name(self.spool.name + ".lock"), "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _spool(self, lines: list[bytes]) -> None:
        with self._spool_locked():
            _append_synced(self.spool, lines)
        self.stats.spooled += len(lines)

    def _drain_spool(self) -> None:
        """Send the spool in batches, oldest first; rewrite it with what was not taken."""
        with self._spool_locked():
            try:
                lines = [ln for ln in self.spool.read_bytes().split(b"\n") if ln.strip()]
            except FileNotFoundError:
                return
            remaining: list[bytes] = []
            fatal: AgentOpsError | None = None
            for i in range(0, len(lines), self.batch_size):
                left, fatal = self._deliver(lines[i : i + self.batch_size])
                if left or fatal:
                    remaining = left + lines[i + self.batch_size :]
                    break
            _rewrite(self.spool, remaining)
        if fatal is not None:
            raise fatal


def _append_synced(path: Path, lines: list[bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as fh:
        fh.write(b"".join(line + b"\n" for line in lines))
        fh.flush()
        os.fsync(fh.fileno())


def _rewrite(path: Path, lines: list[bytes]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(b"".join(line + b"\n" for line in lines))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
