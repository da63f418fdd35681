"""The HTTP loader: `agentops-wh serve`, for producers that cannot drop files.

`POST /v1/events` takes one event, a JSON array of events or NDJSON, optionally gzip-
encoded, and checks every event with the file loader's validation core
(`ingestion.validation.contract`). A batch is all or nothing (`400` lists every bad event
with its index, reason code and JSON-pointer paths) unless `?partial=true` keeps the valid
ones (`207`). Valid events are redacted, then appended and fsynced to the write-ahead log
before the `202` (`ingestion.http.wal`); the flusher turns the log into Parquet within
seconds. Rejected events go to the quarantine with source `http`, as the file loader's bad
lines do.

Security: every request needs a bearer token (`agentops-wh token create`); the tenant comes
from the token, and a batch holding another tenant's event is refused whole (`403`). Bodies,
decompressed bodies (gzip bombs), events per request, bytes per event and JSON nesting depth
are limited. The logs pass through the same redactor as the lake.

Also: `GET /healthz`, `GET /metrics` (Prometheus), `GET /v1/budgets/check` (is an agent within
its `block` budgets, from the published warehouse) and OpenAPI at `/docs`.

This module is the `serve` command; the parts it starts: `bodies` (decoding, framing and
checking a request body), `ingestor` (tokens, dedupe, WAL, quarantine), `app` (routes and
status codes), `metrics`, `budget_check`, `logs`, `limits` (slow clients), `wal` and `tokens`.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from ingestion.http.app import create_app
from ingestion.http.bodies import ServerSettings
from ingestion.http.ingestor import Ingestor
from ingestion.http.limits import header_timeout_protocol
from ingestion.http.logs import log_config
from ingestion.http.tokens import TokenError, TokenStore, tokens_path
from ingestion.http.wal import (
    WalInUse,
)
from ingestion.settings import data_dir as default_data_dir


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _settings_from_args(args: argparse.Namespace, base: Path) -> ServerSettings:
    return ServerSettings(
        data_dir=base,
        insecure_dev=args.insecure_dev,
        max_body_bytes=args.max_body_bytes,
        max_decompressed_bytes=args.max_decompressed_bytes,
        max_events=args.max_events,
        max_event_bytes=args.max_event_bytes,
        max_depth=args.max_depth,
        max_future_skew=timedelta(seconds=args.max_future_skew),
        min_occurred_at=args.min_occurred_at,
        max_backlog_bytes=args.max_backlog_bytes,
        min_free_bytes=args.min_free_bytes,
        flush_interval=args.flush_interval,
        segment_bytes=args.segment_bytes,
        dedupe_window_days=args.dedupe_window_days,
        body_timeout=args.body_timeout,
        header_timeout=args.header_timeout,
        max_per_client=args.max_per_client,
        max_connections=args.max_connections,
        otlp_keep_other_spans=args.otlp_keep_other_spans,
    )


def _active_tokens(base: Path) -> int:
    try:
        return TokenStore(tokens_path(base)).active_count()
    except TokenError as exc:
        print(f"agentops-wh serve: error: {exc}", file=sys.stderr)
        return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    base = default_data_dir()
    err = sys.stderr
    try:
        settings = _settings_from_args(args, base)
    except ValueError as exc:
        print(f"agentops-wh serve: error: {exc}", file=err)
        return 2
    if args.insecure_dev:
        if not _is_loopback(args.host):
            print(
                f"agentops-wh serve: error: --insecure-dev turns authentication off; it only "
                f"binds to a loopback address, not {args.host}",
                file=err,
            )
            return 2
        print("agentops-wh serve: WARNING: --insecure-dev: no authentication", file=err)
    elif _active_tokens(base) == 0:
        print(
            f"agentops-wh serve: error: no active token in {tokens_path(base)}; create one with "
            "`agentops-wh token create --tenant T` (or pass --insecure-dev for local "
            "development without authentication)",
            file=err,
        )
        return 2
    app = create_app(settings)
    ingestor: Ingestor = app.state.ingestor
    # Fork the flusher's child first: before uvicorn starts threads (a fork is then safe and
    # cheap), and before the WAL lock is taken (a child must not inherit it).
    ingestor.flusher.prestart()
    try:
        ingestor.claim()
    except WalInUse as exc:
        print(f"agentops-wh serve: error: {exc}", file=err)
        return 2
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_config=log_config(not args.no_access_log),
        timeout_graceful_shutdown=30,
        timeout_keep_alive=5,
        limit_concurrency=settings.max_connections,
        http=header_timeout_protocol(settings.header_timeout),
    )
    return 0


def register(sub: Any) -> None:
    d = ServerSettings(data_dir=Path("."))
    p = sub.add_parser(
        "serve",
        help="the HTTP loader: POST /v1/events, /healthz, /metrics, OpenAPI at /docs",
        description="Serve the HTTP loader over $AGENTOPS_DATA_DIR. Needs at least one token "
        "(`agentops-wh token create --tenant T`) unless --insecure-dev.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    p.add_argument("--port", type=int, default=8000, help="port (default: %(default)s)")
    p.add_argument(
        "--insecure-dev",
        action="store_true",
        help="no authentication, any tenant (loopback only; for local development)",
    )
    p.add_argument("--no-access-log", action="store_true", help="do not log each request")
    limits = p.add_argument_group("limits")
    limits.add_argument(
        "--max-body-bytes",
        type=int,
        default=d.max_body_bytes,
        help="as sent (default: %(default)s)",
    )
    limits.add_argument(
        "--max-decompressed-bytes",
        type=int,
        default=d.max_decompressed_bytes,
        help="after gzip (default: %(default)s)",
    )
    limits.add_argument(
        "--max-events", type=int, default=d.max_events, help="per request (default: %(default)s)"
    )
    limits.add_argument(
        "--max-event-bytes", type=int, default=d.max_event_bytes, help="(default: %(default)s)"
    )
    limits.add_argument(
        "--max-depth", type=int, default=d.max_depth, help="JSON nesting (default: %(default)s)"
    )
    limits.add_argument(
        "--max-future-skew", type=float, default=300.0, help="seconds (default: %(default)s)"
    )
    from ingestion.files.loader import add_min_occurred_at

    add_min_occurred_at(limits)
    limits.add_argument(
        "--body-timeout",
        type=float,
        default=d.body_timeout,
        help="seconds a client may take to send a body, else 408 (default: %(default)s)",
    )
    limits.add_argument(
        "--header-timeout",
        type=float,
        default=d.header_timeout,
        help="seconds a new connection may take to send its headers (default: %(default)s)",
    )
    limits.add_argument(
        "--max-per-client",
        type=int,
        default=d.max_per_client,
        help="requests in flight per token, or per address without one; more get 429 "
        "(default: %(default)s)",
    )
    limits.add_argument(
        "--max-connections",
        type=int,
        default=d.max_connections,
        help="open connections in all; uvicorn answers 503 past it (default: %(default)s)",
    )
    limits.add_argument(
        "--max-backlog-bytes",
        type=int,
        default=d.max_backlog_bytes,
        help="unflushed WAL bytes before answering 503 (default: %(default)s)",
    )
    limits.add_argument(
        "--min-free-bytes",
        type=int,
        default=d.min_free_bytes,
        help="free disk below which the loader answers 503 (default: %(default)s)",
    )
    wal = p.add_argument_group("write-ahead log")
    wal.add_argument(
        "--flush-interval",
        type=float,
        default=d.flush_interval,
        help="seconds between flushes into the lake (default: %(default)s)",
    )
    wal.add_argument(
        "--segment-bytes",
        type=int,
        default=d.segment_bytes,
        help="rotate a WAL segment at this size (default: %(default)s)",
    )
    wal.add_argument(
        "--dedupe-window-days",
        type=int,
        default=d.dedupe_window_days,
        help="re-posts of events this recent count as duplicates (default: %(default)s)",
    )
    from ingestion.otlp.route import add_arguments

    add_arguments(p)
    p.set_defaults(func=_cmd_serve)
