"""Producers that already run OpenTelemetry, end to end: spans in, priced marts out.

Real parts only: the OpenTelemetry SDK with its OTLP/HTTP protobuf exporter, the official
OpenAI instrumentation around the real `openai` client (calling an OpenAI-compatible server on
127.0.0.1), the agent SDK through the batching client, a served loader, the dbt build. Two
tenants export the very same trace and span ids. The warehouse is built once for the module;
expected money comes from genai-prices' `calc_price`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import duckdb
import genai_prices
import pytest
from genai_prices import Usage
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import Status, StatusCode

from app.queries import connection, traces
from ingestion.producers.client import AgentOpsClient
from ingestion.producers.sdk import Agent, BudgetExceeded
from orchestration.warehouse.build import build
from tests.ingestion.test_server import ServerProcess, create_token

pytestmark = pytest.mark.slow

TRACE_ID = 0x5B8EFFF798038103D269B633813FC60C
TRACE = f"{TRACE_ID:032x}"
# tenant -> (input, output, cache read) tokens of its chat span: same ids, different usage
USAGE = {"acme": (1200, 300, 200), "globex": (2400, 600, 0)}
AS_OF = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


class SameIds(IdGenerator):
    """Both tenants' SDKs draw the same trace and span ids."""

    def __init__(self) -> None:
        self.n = 0

    def generate_span_id(self) -> int:
        self.n += 1
        return 0x1000 + self.n

    def generate_trace_id(self) -> int:
        return TRACE_ID


def provider(url: str, token: str, service: str, ids: IdGenerator | None = None):
    exporter = OTLPSpanExporter(
        endpoint=f"{url}/v1/traces", headers={"Authorization": f"Bearer {token}"}
    )
    resource = Resource.create(
        {"service.name": service, "agentops.workspace_id": "prod", "agentops.project_id": "bot"}
    )
    tp = (
        TracerProvider(resource=resource, id_generator=ids)
        if ids
        else TracerProvider(resource=resource)
    )
    # One export per ended span: children reach the loader before their parents, one by one.
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    return tp


def agent_trace(tp: TracerProvider, tenant: str) -> None:
    inp, out, cached = USAGE[tenant]
    tracer = tp.get_tracer("agent")
    agent = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "planner"}
    with tracer.start_as_current_span("invoke_agent planner", attributes=agent):
        chat = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": inp,
            "gen_ai.usage.output_tokens": out,
            "gen_ai.usage.cache_read.input_tokens": cached,
        }
        with tracer.start_as_current_span("chat gpt-4o", attributes=chat):
            pass
        tool = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"}
        with tracer.start_as_current_span("execute_tool search", attributes=tool):
            pass
        failed = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o",
            "error.type": "RateLimitError",
        }
        with tracer.start_as_current_span("chat gpt-4o", attributes=failed) as span:
            span.set_status(Status(StatusCode.ERROR, "rate limited"))


class FakeOpenAI:
    """An OpenAI-compatible chat completions server on 127.0.0.1."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = json.dumps(
                    {
                        "id": "chatcmpl-test-1",
                        "object": "chat.completion",
                        "created": 1_700_000_000,
                        "model": "gpt-4o-2024-08-06",
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": "hello"},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {
                            "prompt_tokens": 50,
                            "completion_tokens": 10,
                            "total_tokens": 60,
                            "prompt_tokens_details": {"cached_tokens": 20},
                        },
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def instrumented_openai_call(url: str, token: str) -> str:
    """One chat completion by the real `openai` client under the official instrumentation."""
    import openai
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

    fake = FakeOpenAI()
    tp = provider(url, token, "lone-svc")
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=tp)
    try:
        client = openai.OpenAI(base_url=fake.url, api_key="sk-test-not-a-real-key-000000")
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
        tp.force_flush()
    finally:
        instrumentor.uninstrument()
        fake.close()
        tp.shutdown()
    return "lone-svc"


def sdk_run(url: str, token: str, spool: Path) -> dict[str, Any]:
    """A run by the agent SDK, through the batching client: every event accepted."""
    with AgentOpsClient(url, token, spool_path=spool) as client:
        agent = Agent(client, "acme", "prod", "bot", agent_id="sdk-agent")
        with agent.run(workflow_id="triage") as run, run.step("plan") as step:
            with step.model_call("openai", "gpt-4o") as call:
                call.record(usage={"input_tokens": 100, "output_tokens": 10})
            with step.tool_call("search"):
                pass
            step.policy_decision("pii-guard", "allow", reason="no PII")
        trace_id = run.trace_id
    assert (client.stats.rejected, client.stats.spooled) == (0, 0), client.rejections
    return {"trace_id": trace_id, "accepted": client.stats.accepted}


@pytest.fixture(scope="module")
def wh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("otel-wh")
    data = base / "data"
    data.mkdir()
    tokens = {t: create_token(data, t) for t in USAGE}
    server = ServerProcess(data, "--flush-interval", "0.2").start()
    try:
        for tenant, token in tokens.items():
            tp = provider(server.url, token, "support-svc", SameIds())
            agent_trace(tp, tenant)
            tp.shutdown()
        instrumented_openai_call(server.url, tokens["acme"])
        sdk = sdk_run(server.url, tokens["acme"], base / "spool.jsonl")
        server.wait_flushed()
    finally:
        assert server.stop(), server.log.read_text()[-3000:]
    budgets = base / "budgets.csv"
    budgets.write_text(
        "budget_id,tenant_id,scope,scope_id,period,limit_usd,thresholds,enforcement,destination\n"
        "planner-cap,acme,agent,planner,daily,0.000001,,block,\n"
        "sdk-cap,acme,agent,sdk-agent,daily,1000,,block,\n"
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AGENTOPS_BUDGETS_FILE", str(budgets))
        result = build(data, dbt_vars={"budget_as_of": AS_OF})
    assert result.success, result.summary() + result.output_tail
    server = ServerProcess(data).start()
    try:
        yield {"data": data, "server": server, "tokens": tokens, "sdk": sdk, "base": base}
    finally:
        assert server.stop(), server.log.read_text()[-3000:]


def rows(wh: dict[str, Any], sql: str, params: list[Any] | None = None) -> list[tuple]:
    con = duckdb.connect(str(wh["data"] / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def price(inp: int, out: int, cached: int, model: str, at: datetime) -> Decimal:
    usage = Usage(input_tokens=inp, output_tokens=out, cache_read_tokens=cached)
    return genai_prices.calc_price(
        usage, model_ref=model, provider_id="openai", genai_request_timestamp=at
    ).total_price


def test_sdk_spans_become_a_run_with_priced_calls_a_tool_call_and_a_failure(wh) -> None:
    runs = rows(
        wh,
        "select tenant_id, workspace_id, project_id, agent_id, run_status, model_calls, "
        "failed_model_calls, tool_calls, reported_input_tokens, cost_usd from marts.fct_runs "
        "where run_id = ? order by tenant_id",
        [TRACE],
    )
    calls = rows(
        wh,
        "select tenant_id, agent_id, provider, model, is_failed, error_code, input_tokens, "
        "output_tokens, cached_tokens, is_cache_share_unknown, cost_usd, price_status, "
        "occurred_at from marts.fct_model_calls where run_id = ? "
        "order by tenant_id, is_failed",
        [TRACE],
    )
    expected_runs, expected_calls = [], []
    for tenant, (inp, out, cached) in sorted(USAGE.items()):
        [at] = [c[-1] for c in calls if c[0] == tenant and not c[4]]
        cost = price(inp, out, cached, "gpt-4o", at)
        expected_calls += [
            (tenant, "planner", "openai", "gpt-4o", False, None, inp, out, cached, False, cost,
             "priced"),
            (tenant, "planner", "openai", "gpt-4o", True, "RateLimitError", 0, 0, 0, False,
             Decimal(0), "priced"),
        ]  # fmt: skip
        expected_runs.append((tenant, "prod", "bot", "planner", "succeeded", 2, 1, 1, None, cost))
    assert [c[:-1] for c in calls] == expected_calls
    assert runs == expected_runs
    tools = rows(
        wh,
        "select tenant_id, tool_name, event_type from staging.stg_lake__events "
        "where run_id = ? and tool_name is not null order by 1",
        [TRACE],
    )
    assert tools == [("acme", "search", "tool_call.completed")] + [
        ("globex", "search", "tool_call.completed")
    ]


def test_the_official_openai_instrumentation_lone_chat_span_is_priced_and_marked(wh) -> None:
    [call] = rows(
        wh,
        "select run_id, trace_id, agent_id, provider, model, input_tokens, output_tokens, "
        "cached_tokens, is_cache_share_unknown, cost_usd, request_id, occurred_at "
        "from marts.fct_model_calls where agent_id = 'lone-svc'",
    )
    run_id, trace_id, *rest, occurred_at = call
    # The span carries no cache-read count although the response had 20 cached tokens:
    # priced from what it carries (all 50 input tokens at the input rate), and marked so.
    assert run_id == trace_id
    assert rest == [
        "lone-svc", "openai", "gpt-4o-2024-08-06", 50, 10, 0, True,
        price(50, 10, 0, "gpt-4o-2024-08-06", occurred_at), "chatcmpl-test-1",
    ]  # fmt: skip
    [run] = rows(
        wh,
        "select tenant_id, agent_id, run_status, model_calls, cost_usd from marts.fct_runs "
        "where run_id = ?",
        [run_id],
    )
    assert run == ("acme", "lone-svc", "succeeded", 1, rest[-2])


def test_agent_sdk_run_is_in_the_warehouse(wh) -> None:
    trace_id = wh["sdk"]["trace_id"]
    assert wh["sdk"]["accepted"] == 7  # run 2, step 2, model call, tool call, policy
    [run] = rows(
        wh,
        "select tenant_id, agent_id, workflow_id, run_status, steps, model_calls, tool_calls, "
        "input_tokens, reported_input_tokens from marts.fct_runs where run_id = ?",
        [trace_id],
    )
    assert run == ("acme", "sdk-agent", "triage", "succeeded", 1, 1, 1, 100, 100)


def test_check_budget_raises_for_a_block_budget_over_its_limit(wh) -> None:
    url, token = wh["server"].url, wh["tokens"]["acme"]
    spool = wh["base"] / "budget-spool.jsonl"
    with AgentOpsClient(url, token, spool_path=spool) as client:
        planner = Agent(client, "acme", "prod", "bot", agent_id="planner")
        with pytest.raises(BudgetExceeded) as info:
            planner.check_budget()
        assert info.value.blocking == ["planner-cap"]
        assert "planner-cap (agent planner:" in str(info.value)
        answer = Agent(client, "acme", "prod", "bot", agent_id="sdk-agent").check_budget()
        assert (answer["allowed"], answer["blocking"]) == (True, [])
    with AgentOpsClient(url, wh["tokens"]["globex"], spool_path=spool) as client:
        # globex's own planner has no budget: acme's is none of its business
        Agent(client, "globex", "prod", "bot", agent_id="planner").check_budget()


def test_the_traces_page_marks_a_call_priced_without_its_cache_share(wh, monkeypatch) -> None:
    [(tenant, run_id)] = rows(
        wh, "select tenant_id, run_id from marts.fct_model_calls where agent_id = 'lone-svc'"
    )
    marks = rows(
        wh,
        "select model_calls, price_status, is_cache_share_unknown from marts.fct_spans "
        "where tenant_id = ? and run_id = ?",
        [tenant, run_id],
    )
    # The lone span is the run and its call at once.
    assert marks == [(1, "priced", True)]
    # The SDK's model call carried its cache reads: priced, nothing to mark.
    sdk_marks = rows(
        wh,
        "select price_status, is_cache_share_unknown from marts.fct_spans "
        "where tenant_id = 'acme' and run_id = ? and span_kind = 'model_call'",
        [wh["sdk"]["trace_id"]],
    )
    assert sdk_marks == [("priced", False)]
    monkeypatch.setenv("AGENTOPS_DATA_DIR", str(wh["data"]))
    spans = traces.run_spans(connection.warehouse(), tenant, run_id)
    assert spans.price_status.tolist() == ["priced, cache share unknown"]


def test_usage_rollups_count_a_trace_under_its_agent_span(wh) -> None:
    """The tool and failed-call spans carry only the service's name (support-svc): the
    rollups count them, like the run and its calls, under the trace's agent span."""
    for table in ("agg_usage_hourly", "agg_usage_daily"):
        got = rows(
            wh,
            "select tenant_id, agent_id, sum(runs), sum(model_calls), sum(failed_model_calls), "
            f"sum(tool_calls), sum(failures) from marts.{table} "
            "where agent_id in ('planner', 'support-svc') group by all order by all",
        )
        assert got == [
            ("acme", "planner", 1, 2, 1, 1, 1),
            ("globex", "planner", 1, 2, 1, 1, 1),
        ], table
