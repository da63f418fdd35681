"""The FastAPI app of `agentops-wh serve`: routes, status codes, OpenAPI, request logging."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import FastAPI, Query, Request
from fastapi.responses import PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from ingestion.http.bodies import ApiError, ServerSettings, decompress
from ingestion.http.budget_check import budget_decision
from ingestion.http.ingestor import Ingestor
from ingestion.http.limits import ClientSlots, TooManyInFlight, within
from ingestion.http.metrics import Metrics
from ingestion.validation.contract import (
    load_schema,
)


def _event_request_schema() -> tuple[dict[str, Any], dict[str, Any]]:
    """The event JSON Schema as OpenAPI components (its $defs hoisted, refs rewritten)."""
    schema = json.loads(json.dumps(load_schema()))
    defs = schema.pop("$defs", {})
    for key in ("$schema", "$id"):
        schema.pop(key, None)
    text = json.dumps({"AgentEvent": schema, **{f"AgentEvent_{k}": v for k, v in defs.items()}})
    text = text.replace('"#/$defs/', '"#/components/schemas/AgentEvent_')
    components = json.loads(text)
    ref = {"$ref": "#/components/schemas/AgentEvent"}
    body = {
        "required": True,
        "description": "One event, a JSON array of events, or NDJSON (one event per line). "
        "Content-Encoding: gzip is accepted.",
        "content": {
            "application/json": {"schema": {"oneOf": [ref, {"type": "array", "items": ref}]}},
            "application/x-ndjson": {"schema": {"type": "string"}},
        },
    }
    return components, body


def create_app(settings: ServerSettings) -> FastAPI:
    """The FastAPI app over one data directory (state starts and stops with the app)."""
    ingestor = Ingestor(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(ingestor.start)
        try:
            yield
        finally:
            await run_in_threadpool(ingestor.stop)

    app = FastAPI(
        title="AgentOps Warehouse HTTP loader",
        version="0",
        description="Post agent telemetry events (schema `agent-event-v0`) into the lake.",
        lifespan=lifespan,
    )
    app.state.ingestor = ingestor
    components, request_body = _event_request_schema()
    slots = asyncio.Semaphore(settings.max_concurrent)
    per_client = ClientSlots(settings.max_per_client)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        return _json(exc.payload(), exc.status, exc.headers)

    app.add_middleware(_Observe, metrics=ingestor.metrics)

    @app.post(
        "/v1/events",
        status_code=202,
        summary="Post events",
        tags=["ingest"],
        openapi_extra={"requestBody": request_body},
        responses={
            202: {"description": "All events valid and durably stored (or already stored)."},
            207: {"description": "?partial=true: valid events stored, the others listed."},
            400: {"description": "Invalid events, listed with index, reason code and paths."},
            401: {"description": "Missing, unknown or revoked bearer token."},
            403: {"description": "An event belongs to another tenant than the token's."},
            413: {"description": "Body, decompressed body or event count over the limit."},
            503: {"description": "Backlog or disk over the limit: retry after Retry-After."},
        },
    )
    async def post_events(
        request: Request,
        partial: bool = Query(False, description="store the valid events of a mixed batch"),
    ) -> Response:
        """Validate a batch and store it durably (fsynced) before answering."""
        content_type = request.headers.get("content-type")

        def handle(body: bytes, tenant: str | None) -> Response:
            status, answer = ingestor.ingest(body, content_type, tenant, partial)
            return _json(answer, status)

        return await receive(request, handle)

    async def receive(
        request: Request, handle: Callable[[bytes, str | None], Response]
    ) -> Response:
        """What every ingest route shares: the token, capacity, per-client and body limits,
        gzip; then `handle(body, tenant)` in a worker thread."""
        tenant = ingestor.authenticate(request.headers.get("authorization"))
        ingestor.check_capacity()
        client = (
            f"tenant:{tenant}"
            if tenant is not None
            else (request.client.host if request.client else "-")
        )
        try:
            async with per_client.hold(client):
                # A slow body is read outside `slots`: it keeps no other client waiting.
                body = await within(
                    settings.body_timeout, _read_body(request, settings.max_body_bytes)
                )
                return await judge(request, body, tenant, handle)
        except TooManyInFlight:
            raise ApiError(
                429,
                "too_many_requests",
                f"this client already has {settings.max_per_client} requests in flight (the "
                "limit); wait for their answers",
                headers={"Retry-After": "1"},
            ) from None
        except TimeoutError:
            raise ApiError(
                408,
                "body_timeout",
                f"the body did not arrive within {settings.body_timeout:g} s; send it at once",
                headers={"Connection": "close"},
            ) from None

    async def judge(
        request: Request, body: bytes, tenant: str | None, handle: Callable[..., Response]
    ) -> Response:
        async with slots:
            encoding = request.headers.get("content-encoding")
            if encoding and encoding.strip().lower() not in ("identity", ""):
                body = await run_in_threadpool(
                    decompress, body, encoding, settings.max_decompressed_bytes
                )
            elif len(body) > settings.max_decompressed_bytes:
                raise ApiError(
                    413,
                    "body_too_large",
                    f"the body exceeds {settings.max_decompressed_bytes} bytes",
                )
            return await run_in_threadpool(handle, body, tenant)

    from ingestion.otlp.route import add_traces_route

    add_traces_route(app, ingestor, receive)

    @app.get("/v1/budgets/check", tags=["budgets"], summary="Is an agent within its budgets?")
    async def budgets_check(
        request: Request,
        tenant_id: str | None = Query(None, description="defaults to the token's tenant"),
        workspace_id: str | None = None,
        project_id: str | None = None,
        agent_id: str | None = None,
    ) -> Response:
        """`allowed` is false when a `block`-enforced budget of this tenant, workspace, project
        or agent is over its limit in the current period, as of the last published build."""
        tenant = ingestor.authenticate(request.headers.get("authorization"))
        tenant_id = tenant_id or tenant
        if tenant_id is None:
            raise ApiError(
                400,
                "missing_tenant",
                "this server runs without tokens (--insecure-dev), so it cannot tell whose "
                "budgets to check: pass ?tenant_id=<tenant> (budgets and their scope ids are "
                "per tenant)",
            )
        if tenant is not None and tenant_id != tenant:
            raise ApiError(
                403, "tenant_mismatch", f"this token may only check budgets of tenant {tenant!r}"
            )
        rows, note = await run_in_threadpool(ingestor.budgets.rows)
        scopes = {"workspace": workspace_id, "project": project_id, "agent": agent_id}
        answer = budget_decision(rows, tenant_id, scopes, datetime.now(UTC))
        if note:
            answer["note"] = note
        return _json(answer)

    @app.get("/healthz", tags=["operations"], summary="Liveness and whether the lake is writable")
    async def healthz() -> Response:
        ok, answer = await run_in_threadpool(ingestor.health)
        return _json(answer, 200 if ok else 503)

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics")
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(
            ingestor.metrics_text(), media_type="text/plain; version=0.0.4; charset=utf-8"
        )

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            spec = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            spec.setdefault("components", {}).setdefault("schemas", {}).update(components)
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


class _Observe:
    """ASGI middleware: request count and latency per route and status, for /metrics."""

    ROUTES = frozenset({"/v1/events", "/v1/traces", "/v1/budgets/check", "/healthz", "/metrics"})

    def __init__(self, app: Any, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_observed(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_observed)
        finally:
            route = scope["path"] if scope["path"] in self.ROUTES else "other"
            self.metrics.observe(route, status, time.perf_counter() - started)


def _json(answer: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None):
    return Response(
        orjson.dumps(answer), status_code=status, headers=headers, media_type="application/json"
    )


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ApiError(
            413, "body_too_large", f"the body is {declared} bytes; the limit is {limit}: split it"
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(
                413, "body_too_large", f"the body exceeds {limit} bytes (the limit): split it"
            )
        chunks.append(chunk)
    return b"".join(chunks)
