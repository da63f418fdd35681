"""`POST /v1/traces`: OTLP/HTTP trace exports into the lake, beside `POST /v1/events`.

The route shares everything of `/v1/events` but the body's format (`ingestion.http.server`):
bearer tokens (the tenant is the token's), the per-client, body-size and gzip limits, the
write-ahead log fsynced before the answer, duplicate detection, redaction, metrics and the
quarantine (source `otlp`). Each span is mapped (`ingestion.otlp.mapping`); every event it
yields passes the contract's validation (`check_event`), and a span whose events do not all
pass is rejected whole and quarantined as a one-span OTLP/JSON export, which can be posted
again once fixed.

Answers follow OTLP/HTTP so exporters retry what is worth retrying: 200 with an
`ExportTraceServiceResponse` (its `partial_success` counts the rejected spans, or carries a
warning about dropped non-GenAI spans); 400 for a body that is not an export; 401/403 for
tokens; 413 for a body over the limits; 415 for another Content-Type; 429 and 503 with
`Retry-After` (the SDK exporters retry those, and nothing else). Error bodies are
`google.rpc.Status` messages in the request's encoding.
"""

from __future__ import annotations

import argparse
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response

from ingestion.http.bodies import ApiError, Item
from ingestion.http.ingestor import Ingestor
from ingestion.otlp.decode import (
    JSON,
    PROTOBUF,
    PROTOBUF_TYPES,
    OtlpBodyError,
    Span,
    decode_request,
    error_status,
    export_response,
    request_format,
    spans_of,
)
from ingestion.otlp.mapping import map_span
from ingestion.validation.contract import FieldError, Rejection, check_event

SOURCE = "otlp"
MEDIA_TYPES = {PROTOBUF: "application/x-protobuf", JSON: "application/json"}
# HTTP status -> google.rpc.Code, for the Status body of an error answer.
RPC_CODES = {400: 3, 401: 16, 403: 7, 408: 4, 413: 8, 415: 3, 429: 8, 503: 14}
MAX_LISTED = 5  # rejected spans named in the answer's message


@dataclass
class OtlpStats:
    """Span counters for /metrics."""

    received: int = 0
    mapped: int = 0  # GenAI spans (and kept other spans) whose events were all valid
    dropped: int = 0  # not GenAI spans, dropped (the default)
    rejected: int = 0  # quarantined
    lock: threading.Lock = field(default_factory=threading.Lock)

    def counters(self) -> dict[str, tuple[str, float]]:
        with self.lock:
            return {
                "agentops_otlp_spans_received_total": (
                    "Spans received on /v1/traces.",
                    self.received,
                ),
                "agentops_otlp_spans_mapped_total": (
                    "Spans stored as contract events (new or duplicate).",
                    self.mapped,
                ),
                "agentops_otlp_spans_dropped_total": (
                    "Spans that are not GenAI spans, dropped (serve --otlp-keep-other-spans "
                    "keeps them as steps).",
                    self.dropped,
                ),
                "agentops_otlp_spans_rejected_total": (
                    "Spans that could not be mapped or whose events were invalid (quarantined).",
                    self.rejected,
                ),
            }


@dataclass
class ExportResult:
    """What one export request came to."""

    spans: int = 0
    mapped: int = 0
    dropped: int = 0
    rejected: list[tuple[Span, Rejection]] = field(default_factory=list)
    accepted: int = 0  # events
    duplicates: int = 0  # events

    def message(self) -> str:
        """The partial-success message: empty when every span was stored."""
        parts = []
        if self.rejected:
            listed = "; ".join(
                f"span {s.index} ({s.name!r}, span id {s.span_id}): {r.reason_code}: "
                + (r.errors[0].message if r.errors else "")
                for s, r in self.rejected[:MAX_LISTED]
            )
            more = len(self.rejected) - MAX_LISTED
            parts.append(
                f"{len(self.rejected)} span(s) rejected and kept in the quarantine: {listed}"
                + (f"; and {more} more" if more > 0 else "")
            )
        if self.dropped:
            parts.append(
                f"{self.dropped} span(s) without gen_ai.operation.name dropped (not GenAI spans)"
            )
        return ". ".join(parts)


def ingest_export(
    ingestor: Ingestor,
    request_spans: list[Span],
    tenant: str | None,
    now: datetime | None = None,
) -> ExportResult:
    """Map, validate and store the spans of one export (the route's work, without HTTP)."""
    settings = ingestor.settings
    now = now or datetime.now(UTC)
    config = settings.validation
    result = ExportResult(spans=len(request_spans))
    valid: list[Item] = []
    quarantined: list[tuple[int, bytes, Rejection]] = []
    for span in request_spans:
        outcome = map_span(span, tenant, settings.otlp_keep_other_spans)
        rejection = outcome.rejection
        items: list[Item] = []
        if rejection is None and not outcome.events:
            result.dropped += 1
            continue
        for event in outcome.events:
            raw = orjson.dumps(event)
            verdict = check_event(event, now, config, len(raw))
            if isinstance(verdict, Rejection):
                rejection = _in_event(verdict, event)
                break
            if not verdict.raw:
                verdict.raw = raw
            items.append(Item(len(valid) + len(items), span.index + 1, raw, verdict, event))
        if rejection is not None:
            result.rejected.append((span, rejection))
            quarantined.append((span.index + 1, span.as_otlp_json(), rejection))
            continue
        result.mapped += 1
        valid.extend(items)
    result.accepted, result.duplicates = ingestor.store_and_quarantine(valid, quarantined, SOURCE)
    return result


def _in_event(rej: Rejection, event: dict[str, Any]) -> Rejection:
    """A mapped event's rejection, its messages saying they are about the mapped event."""
    kind = event.get("event_type")
    errors = tuple(FieldError(e.path, f"mapped {kind} event: {e.message}") for e in rej.errors)
    return Rejection(rej.reason_code, errors, rej.event_id)


def add_traces_route(
    app: FastAPI,
    ingestor: Ingestor,
    receive: Callable[[Request, Callable[[bytes, str | None], Response]], Awaitable[Response]],
) -> None:
    """Register `POST /v1/traces` on the loader's app; `receive` is its shared intake."""
    stats = OtlpStats()
    ingestor.counter_sources.append(stats.counters)

    def handle(body: bytes, tenant: str | None, content_type: str | None) -> Response:
        try:
            fmt = request_format(content_type)
            export = decode_request(body, fmt)
        except OtlpBodyError as exc:
            if exc.status == 400 and body.strip():
                rej = Rejection(exc.reason_code, (FieldError("", exc.message),))
                ingestor.store_and_quarantine([], [(1, body, rej)], SOURCE)
            raise ApiError(exc.status, exc.reason_code, exc.message) from None
        spans = list(spans_of(export))
        limit = ingestor.settings.max_events
        if len(spans) > limit:
            raise ApiError(
                413,
                "too_many_spans",
                f"{len(spans)} spans in one export; the limit is {limit}: lower the batch "
                "processor's max_export_batch_size",
            )
        result = ingest_export(ingestor, spans, tenant)
        with stats.lock:
            stats.received += result.spans
            stats.mapped += result.mapped
            stats.dropped += result.dropped
            stats.rejected += len(result.rejected)
        message = ingestor.redactor.redact_text(result.message())
        return Response(
            export_response(fmt, len(result.rejected), message),
            status_code=200,
            media_type=MEDIA_TYPES[fmt],
        )

    @app.post(
        "/v1/traces",
        summary="OTLP/HTTP trace export (GenAI spans)",
        tags=["ingest"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "description": "An OTLP ExportTraceServiceRequest: protobuf or OTLP/JSON "
                "(hex ids), optionally gzip. GenAI spans become contract events.",
                "content": {
                    "application/x-protobuf": {"schema": {"type": "string", "format": "binary"}},
                    "application/json": {"schema": {"type": "object"}},
                },
            }
        },
        responses={
            200: {
                "description": "ExportTraceServiceResponse; partial_success when not all "
                "spans were stored (rejected spans are in the quarantine)."
            },
            400: {"description": "Not an OTLP trace export (kept in the quarantine)."},
            401: {"description": "Missing, unknown or revoked bearer token."},
            413: {"description": "Body, decompressed body or span count over the limit."},
            415: {"description": "Content-Type other than protobuf or JSON."},
            429: {"description": "Too many requests in flight for this token: Retry-After."},
            503: {"description": "Backlog or disk over the limit: retry after Retry-After."},
        },
    )
    async def post_traces(request: Request) -> Response:
        """Map GenAI spans to contract events and store them durably before answering."""
        content_type = request.headers.get("content-type")
        ct = (content_type or "").split(";", 1)[0].strip().lower()
        fmt = PROTOBUF if ct in PROTOBUF_TYPES else JSON
        try:
            return await receive(request, lambda body, tenant: handle(body, tenant, content_type))
        except ApiError as exc:
            code = RPC_CODES.get(exc.status, 2)
            return Response(
                error_status(fmt, code, exc.message),
                status_code=exc.status,
                headers=exc.headers,
                media_type=MEDIA_TYPES[fmt],
            )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`serve`'s OTLP setting."""
    group = parser.add_argument_group("OpenTelemetry (POST /v1/traces)")
    group.add_argument(
        "--otlp-keep-other-spans",
        action="store_true",
        help="keep spans that are not GenAI spans as steps (span name as step_type) instead "
        "of dropping them; they then show in the trace waterfall",
    )
