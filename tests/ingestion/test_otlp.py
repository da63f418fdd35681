"""OpenTelemetry ingest: the span mapping (pure) and `POST /v1/traces` on a served loader.

The warehouse side (the real OTel SDK and the OpenAI instrumentation into priced marts) is in
tests/warehouse/test_otlp_warehouse.py.
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from ingestion.otlp.decode import STATUS_ERROR, Span, decode_request, spans_of
from ingestion.otlp.mapping import map_span, normalise_provider
from ingestion.validation.contract import ValidEvent, check_event, reference_is_valid
from tests.ingestion.test_server import ServerProcess, create_token

NOW = datetime.now(UTC).replace(microsecond=0)
T0 = int((NOW - timedelta(minutes=30)).timestamp()) * 10**9
TRACE = "5b8efff798038103d269b633813fc60c"


def span(
    span_id: str = "eee19b7ec3c1b174",
    parent: str | None = "eee19b7ec3c1b173",
    name: str = "chat gpt-4o",
    status: int = 0,
    trace_id: str = TRACE,
    resource: dict[str, Any] | None = None,
    **attributes: Any,
) -> Span:
    return Span(
        index=0,
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        name=name,
        start_ns=T0,
        end_ns=T0 + 1_500_000_000,
        status_code=status,
        status_message="",
        attributes=attributes,
        resource={"service.name": "support-svc", **(resource or {})},
        scope="test",
    )


def chat(**attrs: Any) -> dict[str, Any]:
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 1000,
        "gen_ai.usage.output_tokens": 50,
        "gen_ai.usage.cache_read.input_tokens": 200,
        **attrs,
    }


def valid(events: list[dict[str, Any]]) -> None:
    for ev in events:
        verdict = check_event(ev, datetime.now(UTC))
        assert isinstance(verdict, ValidEvent), (verdict, ev)
        assert reference_is_valid(ev)


# -- the mapping ---------------------------------------------------------------------------------


def test_a_chat_span_is_a_model_call_of_the_trace_run_with_the_service_as_agent() -> None:
    out = map_span(span(**chat(**{"gen_ai.response.model": "gpt-4o-2024-08-06"})), "acme")
    assert out.rejection is None
    [ev] = out.events
    valid(out.events)
    assert ev["event_id"] == f"otel-{TRACE}-eee19b7ec3c1b174-model"
    assert ev["event_type"] == "model_call.completed"
    assert ev["tenant"] == {
        "tenant_id": "acme",
        "workspace_id": "default",
        "project_id": "support-svc",
    }
    assert ev["run"] == {"run_id": TRACE, "agent_id": "support-svc"}
    assert ev["model_call"] == {
        "model_call_id": f"{TRACE}-eee19b7ec3c1b174",
        "provider": "openai",
        "model": "gpt-4o-2024-08-06",
        "latency_ms": 1500.0,
    }
    assert ev["resource_usage"] == {"input_tokens": 1000, "output_tokens": 50, "cached_tokens": 200}
    assert ev["attributes"]["agent_source"] == "service"
    assert "cache_share_unknown" not in ev["attributes"]


def test_old_and_other_conventions_map_through_the_alias_table() -> None:
    old = {
        "gen_ai.operation.name": "chat",
        "gen_ai.system": "anthropic",
        "gen_ai.request.model": "claude-3-5-sonnet-20241022",
        "gen_ai.usage.prompt_tokens": 900,
        "gen_ai.usage.completion_tokens": 30,
        "gen_ai.usage.cache_read.input_tokens": 100,
        "gen_ai.usage.cache_write.input_tokens": 50,
        "gen_ai.agent.name": "researcher",
    }
    [ev] = map_span(span(**old), "acme").events
    assert ev["model_call"]["provider"] == "anthropic"
    assert ev["resource_usage"] == {
        "input_tokens": 900,
        "output_tokens": 30,
        "cached_tokens": 100,
        "cache_write_tokens": 50,
    }
    assert ev["run"]["agent_id"] == "researcher"
    assert ev["attributes"]["agent_source"] == "span"
    openinference = {
        "openinference.span.kind": "LLM",
        "llm.provider": "openai",
        "llm.model_name": "gpt-4o-mini",
        "llm.token_count.prompt": 70,
        "llm.token_count.completion": 7,
        "llm.token_count.prompt_details.cache_read": 0,
    }
    [ev] = map_span(span(**openinference), "acme").events
    assert (ev["model_call"]["model"], ev["resource_usage"]) == (
        "gpt-4o-mini",
        {"input_tokens": 70, "output_tokens": 7, "cached_tokens": 0},
    )
    valid([ev])


@pytest.mark.parametrize(
    ("name", "price_book_id"),
    [
        ("openai", "openai"),
        (" Anthropic ", "anthropic"),
        ("gcp.gemini", "google"),
        ("gcp.vertex_ai", "google"),
        ("aws.bedrock", "aws"),
        ("az.ai.openai", "openai"),
        ("azure.ai.openai", "openai"),
        ("mistral_ai", "mistral"),
        ("x_ai", "x-ai"),
        ("groq", "groq"),
    ],
)
def test_provider_names_become_price_book_ids(name: str, price_book_id: str) -> None:
    assert normalise_provider(name) == price_book_id


def test_usage_without_cache_breakdown_is_marked_cache_share_unknown() -> None:
    attrs = chat()
    del attrs["gen_ai.usage.cache_read.input_tokens"]
    [ev] = map_span(span(**attrs), "acme").events
    assert ev["resource_usage"] == {"input_tokens": 1000, "output_tokens": 50}
    assert ev["attributes"]["cache_share_unknown"] is True


def test_a_lone_root_chat_span_is_a_whole_run() -> None:
    out = map_span(span(parent=None, **chat()), "acme")
    assert [e["event_type"] for e in out.events] == [
        "run.started",
        "model_call.completed",
        "run.completed",
    ]
    valid(out.events)
    assert out.events[2]["resource_usage"] == out.events[1]["resource_usage"]
    assert out.events[2]["run"]["status"] == "succeeded"


def test_agent_tool_and_failed_spans() -> None:
    agent = map_span(
        span(name="invoke_agent planner", parent=None, **{
            "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "planner"}),
        "acme",
    )  # fmt: skip
    assert [e["event_type"] for e in agent.events] == ["run.started", "run.completed"]
    assert {e["run"]["agent_id"] for e in agent.events} == {"planner"}
    assert agent.events[1]["attributes"]["usage_unreported"] is True
    tool = map_span(
        span(name="execute_tool search", status=STATUS_ERROR, **{
            "gen_ai.operation.name": "execute_tool", "error.type": "TimeoutError"}),
        "acme",
    )  # fmt: skip
    [ev] = tool.events
    assert ev["event_type"] == "tool_call.failed"
    assert ev["tool_call"]["tool_name"] == "search"
    assert ev["error"]["code"] == "TimeoutError"
    failed = {"gen_ai.operation.name": "chat", "gen_ai.system": "openai"}
    [ev] = map_span(
        span(status=STATUS_ERROR, **failed, **{"gen_ai.request.model": "gpt-4o"}), "acme"
    ).events
    assert ev["event_type"] == "model_call.failed"
    assert ev["resource_usage"] == {"input_tokens": 0, "output_tokens": 0}
    valid(agent.events + tool.events + [ev])


def test_other_spans_are_dropped_or_kept_as_steps() -> None:
    http = span(name="GET /search", **{"http.request.method": "GET"})
    dropped = map_span(http, "acme")
    assert (dropped.events, dropped.rejection, dropped.is_genai) == ([], None, False)
    kept = map_span(http, "acme", keep_other_spans=True)
    assert [e["event_type"] for e in kept.events] == ["step.started", "step.completed"]
    assert kept.events[1]["step"]["step_type"] == "GET /search"
    valid(kept.events)


@pytest.mark.parametrize(
    ("attrs", "reason", "path"),
    [
        (chat(**{"gen_ai.usage.input_tokens": "lots"}), "wrong_type", "gen_ai.usage.input_tokens"),
        (chat(**{"gen_ai.usage.output_tokens": -3}), "out_of_range", "gen_ai.usage.output_tokens"),
        # A Unicode digit is a str.isdigit() but not an integer (found by hypothesis).
        (chat(**{"gen_ai.usage.output_tokens": "²"}), "wrong_type", "gen_ai.usage.output_tokens"),
        ({**chat(), "gen_ai.request.model": None}, "missing_field", "gen_ai.request.model"),
    ],
)
def test_a_span_that_cannot_be_mapped_is_rejected_with_the_attribute(
    attrs: dict[str, Any], reason: str, path: str
) -> None:
    out = map_span(span(**{k: v for k, v in attrs.items() if v is not None}), "acme")
    assert out.rejection is not None and out.events == []
    assert out.rejection.reason_code == reason
    assert out.rejection.errors[0].path == f"/attributes/{path}"


def test_event_ids_derive_from_trace_span_and_kind_only() -> None:
    a = map_span(span(parent=None, **chat()), "acme").events
    b = map_span(span(parent=None, **chat(**{"gen_ai.usage.output_tokens": 9})), "acme").events
    assert [e["event_id"] for e in a] == [e["event_id"] for e in b]
    assert len({e["event_id"] for e in a}) == 3


OPERATIONS = st.sampled_from(
    ["chat", "text_completion", "generate_content", "embeddings", "execute_tool",
     "invoke_agent", "create_agent", "retrieval", "completion", None]
)  # fmt: skip
COUNTS = st.one_of(
    st.none(),
    st.integers(min_value=-5, max_value=2**64),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
    st.booleans(),
)
TEXT = st.one_of(st.none(), st.text(max_size=12))
NAMES = {
    "gen_ai.provider.name": st.sampled_from(["openai", "gcp.vertex_ai", "aws.bedrock", " X_AI "]),
    "gen_ai.request.model": st.sampled_from(["gpt-4o", "claude-3-5-sonnet-20241022"]),
    "gen_ai.agent.name": st.sampled_from(["planner", "researcher"]),
    "gen_ai.tool.name": st.sampled_from(["search", "sql"]),
}


@st.composite
def spans(draw: st.DrawFn) -> Span:
    attrs: dict[str, Any] = {}
    op = draw(OPERATIONS)
    if op is not None:
        attrs[draw(st.sampled_from(["gen_ai.operation.name", "llm.request.type"]))] = op
    for key in ("gen_ai.provider.name", "gen_ai.system", "gen_ai.request.model",
                "gen_ai.response.model", "gen_ai.agent.name", "gen_ai.tool.name",
                "gen_ai.response.id", "error.type", "server.address"):  # fmt: skip
        value = draw(st.one_of(NAMES[key], TEXT) if key in NAMES else TEXT)
        if value is not None:
            attrs[key] = value
    for key in ("gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens",
                "gen_ai.usage.prompt_tokens", "gen_ai.usage.cache_read.input_tokens",
                "gen_ai.usage.cache_creation.input_tokens",
                "gen_ai.usage.reasoning.output_tokens"):  # fmt: skip
        value = draw(st.one_of(st.integers(min_value=-5, max_value=10_000), COUNTS))
        if value is not None:
            attrs[key] = value
    start = T0 + draw(st.integers(min_value=-(10**15), max_value=10**15))
    hexes = st.text(alphabet="0123456789abcdef", min_size=16, max_size=16)
    return Span(
        index=0,
        trace_id=draw(st.sampled_from([TRACE, TRACE, TRACE, "0" * 32, "abc"])),
        span_id=draw(hexes),
        parent_span_id=draw(st.one_of(st.none(), hexes)),
        name=draw(st.text(max_size=20)),
        start_ns=start,
        end_ns=start + draw(st.integers(min_value=-(10**9), max_value=10**12)),
        status_code=draw(st.sampled_from([0, 1, 2])),
        status_message=draw(st.text(max_size=10)),
        attributes=attrs,
        resource={"service.name": draw(st.text(max_size=10))},
        scope="",
    )


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spans(), st.booleans())
def test_every_span_the_mapping_accepts_yields_contract_valid_events(s: Span, keep: bool) -> None:
    out = map_span(s, "acme", keep_other_spans=keep)
    if out.rejection is not None:
        assert out.events == []
        return
    # Timestamps far from now are the loader's rules (too early, in the future), not the
    # mapping's: judge the events as of their own time.
    for ev in out.events:
        at = datetime.fromisoformat(ev["occurred_at"])
        if at.year < 2000:
            continue
        verdict = check_event(ev, max(at, datetime.now(UTC)))
        if isinstance(verdict, ValidEvent):
            assert reference_is_valid(ev)
            continue
        # What the mapping leaves to the contract's own rules: a span that ends before it
        # starts (negative latency, run ended before started), and cache or reasoning tokens
        # over their totals.
        latency = {"/model_call/latency_ms", "/tool_call/latency_ms", "/step/latency_ms"}
        allowed = {
            "out_of_range": latency,
            "ended_before_started": {"/run/ended_at"},
            "cache_tokens_exceed_input": {"/resource_usage/input_tokens"},
            "reasoning_exceeds_output": {"/resource_usage/reasoning_tokens"},
        }  # fmt: skip
        paths = {e.path for e in verdict.errors}
        assert verdict.reason_code in allowed, (verdict, ev)
        assert paths <= set().union(*allowed.values()), (verdict, ev)


# -- the served route ----------------------------------------------------------------------------


def otlp_json(spans_: list[dict[str, Any]], service: str = "support-svc") -> bytes:
    """An OTLP/JSON export: ids in hex, 64-bit integers as strings."""
    return orjson.dumps(
        {
            "resourceSpans": [
                {
                    "resource": {
                        "attributes": [{"key": "service.name", "value": {"stringValue": service}}]
                    },
                    "scopeSpans": [{"scope": {"name": "manual"}, "spans": spans_}],
                }
            ]
        }
    )


def json_span(
    span_id: str, attrs: dict[str, Any], parent: str = "a000000000000000", **kw: Any
) -> dict[str, Any]:
    def value(v: Any) -> dict[str, Any]:
        if isinstance(v, bool):
            return {"boolValue": v}
        if isinstance(v, int):
            return {"intValue": str(v)}
        return {"stringValue": v}

    start = (NOW - timedelta(minutes=5)).timestamp()
    return {
        "traceId": TRACE,
        "spanId": span_id,
        "parentSpanId": parent,
        "name": kw.get("name", "chat gpt-4o"),
        "kind": 3,
        "startTimeUnixNano": str(int(start * 1e9)),
        "endTimeUnixNano": str(int((start + 2) * 1e9)),
        "attributes": [{"key": k, "value": value(v)} for k, v in attrs.items()],
        "status": kw.get("status", {}),
    }


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data = tmp_path_factory.mktemp("otlp") / "data"
    data.mkdir()
    token = create_token(data, "acme")
    server = ServerProcess(data, "--flush-interval", "0.2").start()
    try:
        with server.http(token) as client:
            yield {"server": server, "client": client, "data": data, "token": token}
    finally:
        assert server.stop(), server.log.read_text()[-3000:]


def lake(data: Path, where: str = "true") -> list[tuple]:
    files = str(data / "lake" / "events" / "*" / "*.parquet")
    if not list((data / "lake" / "events").glob("*/*.parquet")):
        return []
    with duckdb.connect() as con:
        return con.sql(
            f"select event_id, event_type, tenant.tenant_id, run.run_id, model_call.provider, "
            f"resource_usage.input_tokens from read_parquet('{files}') where {where} order by 1"
        ).fetchall()


def post_traces(client: httpx.Client, body: bytes, ctype: str, **headers: str) -> httpx.Response:
    return client.post("/v1/traces", content=body, headers={"Content-Type": ctype, **headers})


@pytest.mark.slow
def test_otlp_json_with_hex_ids_and_string_integers_is_stored(served: dict[str, Any]) -> None:
    body = otlp_json(
        [json_span("1000000000000001", chat(**{"gen_ai.provider.name": "gcp.vertex_ai"}))]
    )
    r = post_traces(served["client"], body, "application/json")
    assert (r.status_code, r.json()) == (200, {})
    assert r.headers["content-type"] == "application/json"
    served["server"].wait_flushed()
    assert lake(served["data"], "trace.span_id = '1000000000000001'") == [
        (f"otel-{TRACE}-1000000000000001-model", "model_call.completed", "acme", TRACE,
         "google", 1000)
    ]  # fmt: skip


@pytest.mark.slow
def test_gzip_protobuf_and_a_bad_attribute_is_a_partial_success(served: dict[str, Any]) -> None:
    good = json_span("2000000000000001", chat())
    bad = json_span("2000000000000002", chat(**{"gen_ai.usage.input_tokens": "lots"}))
    other = json_span("2000000000000003", {"http.request.method": "GET"}, name="GET /")
    request = decode_request(otlp_json([good, bad, other]), "json")
    body = gzip.compress(request.SerializeToString())
    r = post_traces(
        served["client"], body, "application/x-protobuf", **{"Content-Encoding": "gzip"}
    )
    assert r.status_code == 200
    answer = ExportTraceServiceResponse.FromString(r.content)
    assert answer.partial_success.rejected_spans == 1
    assert "span 1 ('chat gpt-4o', span id 2000000000000002): wrong_type" in (
        answer.partial_success.error_message
    )
    assert "1 span(s) without gen_ai.operation.name dropped" in (
        answer.partial_success.error_message
    )
    served["server"].wait_flushed()
    assert [row[0] for row in lake(served["data"], "trace.trace_id = trace.trace_id")] == [
        f"otel-{TRACE}-1000000000000001-model",
        f"otel-{TRACE}-2000000000000001-model",
    ]
    [record] = [
        orjson.loads(line)
        for f in (served["data"] / "quarantine").glob("otlp-*.jsonl")
        for line in f.read_bytes().splitlines()
        if b"2000000000000002" in line
    ]
    assert (record["source"], record["reason_code"]) == ("otlp", "wrong_type")
    assert record["errors"][0]["path"] == "/attributes/gen_ai.usage.input_tokens"
    # The quarantined span is a one-span OTLP/JSON export: fixed, it can be posted again.
    [again] = list(spans_of(decode_request(record["raw"].encode(), "json")))
    assert (again.span_id, again.attributes["gen_ai.usage.input_tokens"]) == (
        "2000000000000002",
        "lots",
    )
    metrics = httpx.get(f"{served['server'].url}/metrics").text
    assert "agentops_otlp_spans_rejected_total 1" in metrics
    assert "agentops_otlp_spans_dropped_total 1" in metrics


@pytest.mark.slow
def test_re_export_is_idempotent(served: dict[str, Any]) -> None:
    body = otlp_json([json_span("3000000000000001", chat())])
    for _ in range(2):
        r = post_traces(served["client"], body, "application/json")
        assert (r.status_code, r.json()) == (200, {})
    served["server"].wait_flushed()
    assert len(lake(served["data"], "trace.span_id = '3000000000000001'")) == 1
    metrics = httpx.get(f"{served['server'].url}/metrics").text
    assert "agentops_http_events_duplicate_total 1" in metrics


@pytest.mark.slow
def test_tokens_and_formats_are_answered_as_otlp_exporters_expect(served: dict[str, Any]) -> None:
    server = served["server"]
    body = ExportTraceServiceRequest().SerializeToString()
    with server.http("aow_not_a_token_at_all_000000000") as wrong:
        r = post_traces(wrong, body, "application/x-protobuf")
    assert r.status_code == 401
    assert r.content.startswith(b"\x08\x10")  # google.rpc.Status, code 16 UNAUTHENTICATED
    with server.http(None) as anonymous:
        r = post_traces(anonymous, b"{}", "application/json")
    assert (r.status_code, r.json()["code"]) == (401, 16)
    r = post_traces(served["client"], b"\x0a\xff", "application/x-protobuf")
    assert r.status_code == 400
    r = post_traces(served["client"], b"<xml/>", "text/xml")
    assert (r.status_code, r.json()["code"]) == (415, 3)
    r = post_traces(served["client"], b"[1]", "application/json")
    assert r.status_code == 400


@pytest.mark.slow
def test_a_backlog_answers_503_with_retry_after(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    token = create_token(data, "acme")
    server = ServerProcess(data, "--max-backlog-bytes", "10", "--flush-interval", "60").start()
    try:
        with server.http(token) as client:
            body = otlp_json([json_span("4000000000000001", chat())])
            assert post_traces(client, body, "application/json").status_code == 200
            time.sleep(0.1)
            r = post_traces(client, body, "application/json")
            assert (r.status_code, r.headers["retry-after"], r.json()["code"]) == (503, "2", 14)
    finally:
        assert server.stop(), server.log.read_text()[-3000:]
