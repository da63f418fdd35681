"""The HTTP loader's state: validates, deduplicates and durably stores batches (WAL + flusher)."""

from __future__ import annotations

import errno
import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from ingestion.http.bodies import ApiError, Item, ServerSettings, body_kind, split_and_check
from ingestion.http.budget_check import BudgetReader, jsonable
from ingestion.http.metrics import Metrics
from ingestion.http.tokens import TokenError, TokenStore, tokens_path
from ingestion.http.wal import (
    Flusher,
    WriteAheadLog,
    segment_event_ids,
)
from ingestion.logs import MAX_IDS, ids
from ingestion.settings import warehouse_path
from ingestion.validation.contract import (
    FieldError,
    Rejection,
    ValidEvent,
)
from ingestion.validation.keys import tenant_key, tenant_key_sql
from ingestion.validation.redaction import Redactor

log = logging.getLogger("agentops.server")
_DAY_US = 86_400_000_000


class Ingestor:
    """Validates, deduplicates and durably stores batches; owns the WAL and the flusher."""

    def __init__(self, settings: ServerSettings, redactor: Redactor | None = None):
        self.settings = settings
        self.redactor = redactor or Redactor.from_env()
        base = settings.data_dir
        self.wal = WriteAheadLog(base / "wal", settings.segment_bytes, settings.flush_interval)
        self.flusher = Flusher(
            self.wal,
            base,
            settings.validation,
            settings.flush_interval,
            in_process=settings.flush_in_process,
        )
        self.tokens = TokenStore(tokens_path(base))
        self.budgets = BudgetReader(warehouse_path(base))
        self.metrics = Metrics()
        # tenant_key(tenant, event_id) of accepted events -> event day (for pruning). Keyed by
        # tenant too: one tenant must neither suppress nor detect another tenant's event ids.
        self._ids: dict[str, int] = {}
        self._lock = threading.Lock()
        self._pruned_at = time.monotonic()
        self._leftovers: list[Path] | None = None
        # More counters for /metrics, from other front doors (ingestion.otlp.route).
        self.counter_sources: list[Callable[[], dict[str, tuple[str, float]]]] = []

    # -- lifecycle ---------------------------------------------------------------------------

    def claim(self) -> None:
        """Take the WAL directory (raises WalInUse if another server has it)."""
        if self._leftovers is None:
            self._leftovers = self.wal.open()

    def start(self) -> None:
        self.claim()
        leftovers = self._leftovers or []
        self.redactor.candidates([b"warm-up"])  # first use imports Arrow's compute kernels
        cutoff = self._cutoff_day()
        self._ids = _lake_event_ids(self.settings.data_dir, cutoff)
        for seg in leftovers:
            for tenant_id, event_id, occurred_at in segment_event_ids(seg):
                self._ids[tenant_key(tenant_id, event_id)] = _day_of(occurred_at)
        if leftovers:
            log.info("%d WAL segment(s) left by the last run: flushing them first", len(leftovers))
        log.info("duplicate detection primed with %d event ids", len(self._ids))
        self.flusher.start()
        self.flusher.wake()

    def stop(self) -> None:
        self.flusher.stop()
        self.wal.close()

    def _cutoff_day(self) -> int:
        return (datetime.now(UTC) - timedelta(days=self.settings.dedupe_window_days)).toordinal()

    # -- requests ----------------------------------------------------------------------------

    def authenticate(self, authorization: str | None) -> str | None:
        """The token's tenant (None when running --insecure-dev), else 401."""
        if self.settings.insecure_dev:
            return None
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(
                401,
                "missing_token",
                "send a bearer token: Authorization: Bearer aow_... "
                "(create one with `agentops-wh token create --tenant T`)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        try:
            record = self.tokens.authenticate(token.strip())
        except TokenError as exc:
            log.error("%s", exc)
            raise ApiError(
                503,
                "token_store_unreadable",
                "the loader cannot read its tokens; tell the operator",
            ) from None
        if record is None:
            raise ApiError(
                401,
                "invalid_token",
                "the bearer token is unknown or revoked; check it, or create a new one",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        return record.tenant_id

    def check_capacity(self) -> None:
        """503 when the backlog or the disk says the loader cannot take more right now."""
        backlog = self.wal.backlog_bytes
        if backlog > self.settings.max_backlog_bytes:
            raise ApiError(
                503,
                "backlog_full",
                f"{backlog} bytes are waiting to be flushed to the lake (limit "
                f"{self.settings.max_backlog_bytes}); retry after the Retry-After delay",
                headers={"Retry-After": "2"},
            )
        free = self.wal.free_bytes()
        if free < self.settings.min_free_bytes:
            raise ApiError(
                503,
                "disk_full",
                f"only {free} bytes free under {self.settings.data_dir} (limit "
                f"{self.settings.min_free_bytes}); the operator must free space",
                headers={"Retry-After": "30"},
            )

    def ingest(
        self, body: bytes, content_type: str | None, tenant: str | None, partial: bool
    ) -> tuple[int, dict[str, Any]]:
        """Judge a whole body and store what may be stored; returns (status, answer)."""
        now = datetime.now(UTC)
        kind = body_kind(content_type, body)
        try:
            items = split_and_check(body, kind, now, self.settings)
        except ApiError as exc:
            raw = exc.extra.pop("raw_for_quarantine", None)
            if exc.status == 400:
                self._quarantine_document(raw or body, exc)
            raise
        if tenant is not None:
            others = [(it.index, t) for it in items if (t := it.tenant_id()) not in (None, tenant)]
            if others:
                raise ApiError(
                    403,
                    "tenant_mismatch",
                    f"this token may only post events of tenant {tenant!r}; "
                    f"{len(others)} event(s) carry another tenant.tenant_id; nothing was stored",
                    indexes=[i for i, _ in others[:100]],
                )
        valid = [it for it in items if type(it.result) is ValidEvent]
        rejected = [it for it in items if type(it.result) is Rejection]
        if rejected:
            self._quarantine(rejected)
        if rejected and not (partial and valid):
            answer = self._answer("rejected", items, rejected, 0, 0)
            answer["message"] = (
                f"{len(rejected)} of {len(items)} event(s) are invalid; nothing was stored. "
                + ("" if partial else "Fix them, or send ?partial=true to keep the valid ones. ")
                + "The invalid events are in the quarantine."
            )
            return 400, answer
        accepted, duplicates = self._store(valid)
        status = 207 if rejected else 202
        return status, self._answer(
            "partial" if rejected else "accepted", items, rejected, accepted, duplicates
        )

    def _answer(
        self, status: str, items: list[Item], rejected: list[Item], accepted: int, dups: int
    ) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "status": status,
            "received": len(items),
            "accepted": accepted,
            "duplicates": dups,
            "rejected": len(rejected),
        }
        if rejected:
            redact = self.redactor.redact_text
            answer["errors"] = [
                {
                    "index": it.index,
                    "line_no": it.line_no,
                    "event_id": redact(it.result.event_id) if it.result.event_id else None,
                    "reason_code": it.result.reason_code,
                    "errors": [
                        {"path": e.path, "message": redact(e.message)} for e in it.result.errors
                    ],
                }
                for it in rejected
            ]
        return answer

    def _store(self, valid: list[Item]) -> tuple[int, int]:
        """Append new events to the WAL (fsynced); returns (accepted, duplicates)."""
        if not valid:
            return 0, 0
        redactor = self.redactor
        prepared: list[tuple[str, int, bytes]] = []
        candidates = redactor.candidates([it.result.raw or it.raw for it in valid])  # type: ignore[union-attr]
        for it, maybe in zip(valid, candidates, strict=True):
            ve = it.result
            assert isinstance(ve, ValidEvent)
            if maybe and (redacted := redactor.redact_event(ve.event)) is not ve.event:
                ve.replace_event(redacted)
            line = ve.raw or it.raw
            if b"\n" in line:  # a pretty-printed event: one line per event in the log
                line = orjson.dumps(ve.event)
            day = ve.timestamps_us[("occurred_at",)] // _DAY_US + _EPOCH_ORDINAL
            key = tenant_key(ve.event["tenant"]["tenant_id"], ve.event["event_id"])
            prepared.append((key, day, line))
        with self._lock:
            fresh: dict[str, int] = {}
            lines: list[bytes] = []
            for key, day, line in prepared:
                if key in self._ids or key in fresh:
                    continue
                fresh[key] = day
                lines.append(line)
            if lines:
                try:
                    segment = self.wal.append(b"\n".join(lines) + b"\n")
                except OSError as exc:
                    log.error("WAL append failed: %s", exc)
                    raise ApiError(
                        503,
                        "wal_write_failed",
                        f"the loader could not write to disk ({exc.strerror}); nothing of this "
                        "batch was stored; retry later",
                        headers={"Retry-After": "10"},
                    ) from None
                self._ids.update(fresh)
            if time.monotonic() - self._pruned_at > 3600:
                self._prune()
        accepted, duplicates = len(lines), len(prepared) - len(lines)
        if lines and log.isEnabledFor(logging.INFO):
            events = [it.result.event for it in valid]  # type: ignore[union-attr]
            log.info(
                "accepted %d event(s) into the write-ahead log",
                accepted,
                extra={
                    "tenant_id": sorted({e["tenant"]["tenant_id"] for e in events}),
                    "wal_segment": segment,
                    "trace_id": sorted({e["trace"]["trace_id"] for e in events})[:MAX_IDS],
                    "run_id": sorted({e["run"]["run_id"] for e in events})[:MAX_IDS],
                    **ids([f"{e['tenant']['tenant_id']}/{e['event_id']}" for e in events]),
                    "duplicates": duplicates,
                },
            )
        with self.metrics.lock:
            self.metrics.accepted += accepted
            self.metrics.duplicates += duplicates
        return accepted, duplicates

    def _prune(self) -> None:
        cutoff = self._cutoff_day()
        self._ids = {k: d for k, d in self._ids.items() if d >= cutoff}
        self._pruned_at = time.monotonic()

    def store_and_quarantine(
        self, valid: list[Item], rejected: list[tuple[int, bytes, Rejection]], source: str
    ) -> tuple[int, int]:
        """For other front doors (OTLP): quarantine what they refused, then store the valid
        events like `ingest` does; returns (accepted, duplicates)."""
        if rejected:
            self._write_quarantine(rejected, source)
            with self.metrics.lock:
                for _, _, rej in rejected:
                    self.metrics.rejected[rej.reason_code] += 1
        return self._store(valid)

    def _write_quarantine(
        self, recs: list[tuple[int, bytes, Rejection]], source: str = "http"
    ) -> None:
        """Quarantine rejected input; a full disk is a 503 (nothing of the batch stored)."""
        from ingestion.lake.quarantine import write_quarantine

        try:
            write_quarantine(recs, source, self.settings.data_dir, redactor=self.redactor)
        except OSError as exc:
            log.error("quarantine write failed: %s", exc)
            raise ApiError(
                503,
                "disk_full" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else "write_failed",
                f"the loader could not write its quarantine ({exc.strerror}); nothing of this "
                "batch was stored; the operator must free space, then retry",
                headers={"Retry-After": "30"},
            ) from None

    def _quarantine(self, rejected: list[Item]) -> None:
        recs = [(it.line_no, it.raw, it.result) for it in rejected]
        self._write_quarantine(recs)  # type: ignore[arg-type]
        with self.metrics.lock:
            for it in rejected:
                self.metrics.rejected[it.result.reason_code] += 1  # type: ignore[union-attr]

    def _quarantine_document(self, raw: bytes, exc: ApiError) -> None:
        """A body that is not events at all is still kept (it is what was not loaded)."""
        if not raw.strip():
            return
        errors = exc.extra.get("errors") or [{"path": "", "message": exc.message}]
        rej = Rejection(exc.reason_code, tuple(FieldError(e["path"], e["message"]) for e in errors))
        self._write_quarantine([(1, raw, rej)])
        with self.metrics.lock:
            self.metrics.rejected[exc.reason_code] += 1

    # -- status ------------------------------------------------------------------------------

    def health(self) -> tuple[bool, dict[str, Any]]:
        problems = []
        lake_dir = self.settings.data_dir / "lake"
        probe = lake_dir / f".healthz-{os.getpid()}"
        try:
            lake_dir.mkdir(parents=True, exist_ok=True)
            probe.write_bytes(b"ok")
            probe.unlink()
            writable = True
        except OSError as exc:
            writable = False
            problems.append(f"lake not writable: {exc.strerror}")
        st = self.flusher.stats
        if st.consecutive_failures:
            problems.append(f"flusher failing: {st.last_error}")
        free = self.wal.free_bytes()
        if free < self.settings.min_free_bytes:
            problems.append(f"disk nearly full: {free} bytes free")
        ok = not problems
        return ok, {
            "status": "ok" if ok else "degraded",
            "lake_writable": writable,
            "problems": [self.redactor.redact_text(p) for p in problems],
            "wal_backlog_bytes": self.wal.backlog_bytes,
            "wal_backlog_segments": self.wal.backlog_segments,
            "last_flush_at": jsonable(
                datetime.fromtimestamp(st.last_flush_at, UTC) if st.last_flush_at else None
            ),
            "auth": "disabled (--insecure-dev)" if self.settings.insecure_dev else "bearer",
        }

    def metrics_text(self) -> str:
        st = self.flusher.stats
        gauges = {
            "agentops_wal_backlog_bytes": (
                "Bytes accepted but not yet in the lake.",
                self.wal.backlog_bytes,
            ),
            "agentops_wal_backlog_segments": (
                "WAL segments not yet in the lake.",
                self.wal.backlog_segments,
            ),
            "agentops_wal_last_flush_timestamp_seconds": (
                "Unix time of the last successful flush (0: none yet).",
                float(st.last_flush_at or 0.0),
            ),
            "agentops_dedupe_event_ids": (
                "Event ids remembered for duplicate detection.",
                len(self._ids),
            ),
        }
        counters = {
            "agentops_wal_flushed_events_total": ("Events flushed into the lake.", st.events),
            "agentops_wal_flushes_total": ("Successful flushes.", st.flushes),
            "agentops_wal_flush_failures_total": ("Failed flushes (retried).", st.failures),
        }
        for source in self.counter_sources:
            counters.update(source())
        return self.metrics.render(gauges, counters)


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def _day_of(occurred_at: str) -> int:
    try:
        return datetime.fromisoformat(occurred_at).astimezone(UTC).toordinal()
    except ValueError:
        return datetime.now(UTC).toordinal()


def _lake_event_ids(base: Path, cutoff_day: int) -> dict[str, int]:
    """tenant_key -> day of every event in the lake's partitions since `cutoff_day`."""
    import duckdb

    from ingestion.lake.store import Lake

    lake = Lake(base)
    with lake.locked():  # no half-written file of a running load can be read
        files: list[str] = []
        for part in sorted(lake.events_dir.glob("event_date=*")):
            try:
                day = date.fromisoformat(part.name.split("=", 1)[1]).toordinal()
            except ValueError:
                continue
            if day >= cutoff_day:
                files += [str(p) for p in part.glob("*.parquet") if not p.name.startswith(".")]
        if not files:
            return {}
        con = duckdb.connect()
        try:
            table = con.execute(
                f"SELECT {tenant_key_sql('tenant.tenant_id', 'event_id')} AS key, "
                "CAST(epoch(occurred_at) // 86400 AS BIGINT) AS day FROM read_parquet(?)",
                [files],
            ).to_arrow_table()
        finally:
            con.close()
    ids = table.column("key").to_pylist()
    days = [d + _EPOCH_ORDINAL for d in table.column("day").to_pylist()]
    return dict(zip(ids, days, strict=True))
