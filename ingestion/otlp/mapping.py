"""OpenTelemetry spans -> contract events (the GenAI mapping of schemas/README.md, "OTLP").

Pure functions: a span in, its events (not yet validated) or a rejection out. Which span is
what comes from `gen_ai.operation.name` (or an alias, see ALIASES):

- `chat`, `text_completion`, `generate_content`, `embeddings` -> `model_call.completed`, or
  `model_call.failed` when the span's status is ERROR;
- `execute_tool` -> `tool_call.completed` / `.failed`;
- `invoke_agent`, `create_agent` -> the run: `run.started` at the span's start and
  `run.completed` / `run.failed` at its end;
- anything else -> not a GenAI span: counted and dropped, or kept as `step.started` and
  `step.completed` / `.failed` (span name as `step_type`) when asked to.

A stored span without a parent (the trace's root) that is not an agent span also bounds the
run (`run.started` + `run.completed`/`.failed`): a lone `chat` span is then a finished run.

The run id is the trace id; the agent is the span's own `gen_ai.agent.name` (else `.id`),
else the resource's `service.name`. The attribute `agent_source` says which (`agent_span`,
`span`, `service`), so the warehouse can put every span of a trace under the trace's agent
span once it has arrived (exporters send children first, often in separate requests).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ingestion.otlp.decode import STATUS_ERROR, Span
from ingestion.validation.contract import (
    INT64_MAX,
    INVALID_TRACE_ID,
    MISSING_FIELD,
    OUT_OF_RANGE,
    WRONG_TYPE,
    FieldError,
    Rejection,
    pointer,
)

# Attribute names by meaning, in order of preference: the current GenAI conventions first,
# then the names older versions used, then OpenLLMetry's and OpenInference's.
ALIASES: dict[str, tuple[str, ...]] = {
    "operation": ("gen_ai.operation.name", "llm.request.type"),
    "provider": ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system"),
    "response_model": ("gen_ai.response.model", "llm.response.model"),
    "request_model": ("gen_ai.request.model", "llm.request.model", "llm.model_name"),
    "input_tokens": (
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.prompt_tokens",
        "llm.usage.prompt_tokens",
        "llm.token_count.prompt",
    ),
    "output_tokens": (
        "gen_ai.usage.output_tokens",
        "gen_ai.usage.completion_tokens",
        "llm.usage.completion_tokens",
        "llm.token_count.completion",
    ),
    "cache_read_tokens": (
        "gen_ai.usage.cache_read.input_tokens",
        "gen_ai.usage.cache_read_input_tokens",
        "llm.token_count.prompt_details.cache_read",
    ),
    "cache_write_tokens": (
        "gen_ai.usage.cache_creation.input_tokens",
        "gen_ai.usage.cache_write.input_tokens",
        "gen_ai.usage.cache_creation_input_tokens",
        "llm.token_count.prompt_details.cache_write",
    ),
    "reasoning_tokens": (
        "gen_ai.usage.reasoning.output_tokens",
        "llm.token_count.completion_details.reasoning",
    ),
    "agent_name": ("gen_ai.agent.name", "agent.name"),
    "agent_id": ("gen_ai.agent.id",),
    "tool_name": ("gen_ai.tool.name", "tool.name"),
    "tool_call_id": ("gen_ai.tool.call.id", "tool_call.id"),
    "response_id": ("gen_ai.response.id",),
    "conversation_id": ("gen_ai.conversation.id", "session.id"),
    "finish_reasons": ("gen_ai.response.finish_reasons",),
    "error_type": ("error.type",),
}

MODEL_CALL_OPERATIONS = frozenset({"chat", "text_completion", "generate_content", "embeddings"})
TOOL_OPERATIONS = frozenset({"execute_tool"})
AGENT_OPERATIONS = frozenset({"invoke_agent", "create_agent"})
# Operation names of other instrumentations -> the GenAI conventions' names.
OPERATION_ALIASES = {"completion": "text_completion", "embedding": "embeddings"}
OPENINFERENCE_KINDS = {
    "LLM": "chat",
    "EMBEDDING": "embeddings",
    "TOOL": "execute_tool",
    "AGENT": "invoke_agent",
}

# GenAI provider names -> the price book's provider ids (genai-prices). Names not listed are
# kept, trimmed and lowercased (`openai`, `anthropic`, `cohere`, `deepseek`, `groq`, ...).
PROVIDER_ALIASES = {
    "gcp.gemini": "google",
    "gcp.vertex_ai": "google",
    "gcp.gen_ai": "google",
    "vertex_ai": "google",
    "vertexai": "google",
    "gemini": "google",
    "google_genai": "google",
    "aws.bedrock": "aws",
    "bedrock": "aws",
    "aws_bedrock": "aws",
    "az.ai.openai": "openai",
    "azure.ai.openai": "openai",
    "azure_openai": "openai",
    "az.ai.inference": "azure",
    "azure.ai.inference": "azure",
    "mistral_ai": "mistral",
    "mistralai": "mistral",
    "x_ai": "x-ai",
    "xai": "x-ai",
}
# When a span names no provider: the API host it called (`server.address`) -> the provider.
PROVIDER_HOSTS = (
    ("api.openai.com", "openai"),
    ("openai.azure.com", "openai"),
    ("api.anthropic.com", "anthropic"),
    ("generativelanguage.googleapis.com", "google"),
    ("aiplatform.googleapis.com", "google"),
    ("amazonaws.com", "aws"),
    ("api.mistral.ai", "mistral"),
    ("api.x.ai", "x-ai"),
    ("api.groq.com", "groq"),
    ("api.deepseek.com", "deepseek"),
)

# Resource attributes that place spans within the token's tenant.
WORKSPACE_ATTRIBUTE = "agentops.workspace_id"
PROJECT_ATTRIBUTE = "agentops.project_id"
WORKFLOW_ATTRIBUTE = "agentops.workflow_id"
TENANT_ATTRIBUTE = "agentops.tenant_id"  # only without tokens (--insecure-dev)
DEFAULT_WORKSPACE = "default"
DEFAULT_SERVICE = "unknown_service"

_HEX_TRACE = re.compile(r"[0-9a-f]{32}")
_HEX_SPAN = re.compile(r"[0-9a-f]{16}")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class SpanOutcome:
    """What became of one span: its events, or why it cannot be mapped, or neither (dropped)."""

    events: list[dict[str, Any]] = field(default_factory=list)
    rejection: Rejection | None = None
    is_genai: bool = True


def lookup(attrs: dict[str, Any], meaning: str) -> tuple[str | None, Any]:
    """(attribute name, value) of the first alias of `meaning` the span carries."""
    for name in ALIASES[meaning]:
        value = attrs.get(name)
        if value is not None and value != "":
            return name, value
    return None, None


def operation_of(attrs: dict[str, Any]) -> str | None:
    """The GenAI operation of a span, in the conventions' names (None: not a GenAI span)."""
    _, op = lookup(attrs, "operation")
    if isinstance(op, str) and op.strip():
        op = op.strip().lower()
        return OPERATION_ALIASES.get(op, op)
    kind = attrs.get("openinference.span.kind")
    if isinstance(kind, str):
        return OPENINFERENCE_KINDS.get(kind.strip().upper())
    return None


def normalise_provider(name: str) -> str:
    """A GenAI provider name as the price book spells it (`gcp.vertex_ai` -> `google`)."""
    key = name.strip().lower()
    return PROVIDER_ALIASES.get(key, key)


def provider_from_host(host: Any) -> str | None:
    if not isinstance(host, str):
        return None
    host = host.strip().lower()
    for suffix, provider in PROVIDER_HOSTS:
        bare = suffix.lstrip(".")
        if host == bare or host.endswith("." + bare):
            return provider
    return None


def timestamp(ns: int) -> str:
    """RFC 3339 UTC with microseconds, from Unix nanoseconds."""
    dt = _EPOCH + timedelta(microseconds=ns // 1000)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _attr_error(name: str, message: str) -> FieldError:
    return FieldError(pointer(["attributes", name]), message)


def _count(attrs: dict[str, Any], meaning: str) -> tuple[int | None, Rejection | None]:
    """A token count attribute: None when absent, else a whole number >= 0."""
    name, value = lookup(attrs, meaning)
    if name is None:
        return None, None
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int | float):
        msg = f"{name} is {value!r}; a token count is a whole number"
        return None, Rejection(WRONG_TYPE, (_attr_error(name, msg),))
    if isinstance(value, float) and not value.is_integer():
        msg = f"{name} is {value!r}; a token count is a whole number"
        return None, Rejection(WRONG_TYPE, (_attr_error(name, msg),))
    if not 0 <= value <= INT64_MAX:
        msg = f"{name} is {value!r}; a token count is between 0 and {INT64_MAX}"
        return None, Rejection(OUT_OF_RANGE, (_attr_error(name, msg),))
    return int(value), None


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return str(value)
    return None


@dataclass(frozen=True)
class _Context:
    """What every event of one span shares."""

    span: Span
    tenant: dict[str, str]
    run: dict[str, str]
    attributes: dict[str, Any]

    def event(self, event_type: str, kind: str, at_ns: int, **sections: Any) -> dict[str, Any]:
        s = self.span
        run = dict(self.run, **sections.pop("run_extra", {}))
        attributes = dict(self.attributes, **sections.pop("attributes_extra", {}))
        return {
            "event_version": "0",
            "event_id": f"otel-{s.trace_id}-{s.span_id}-{kind}",
            "event_type": event_type,
            "occurred_at": timestamp(at_ns),
            "tenant": dict(self.tenant),
            "run": run,
            "trace": {
                "trace_id": s.trace_id,
                "span_id": s.span_id,
                "parent_span_id": s.parent_span_id,
            },
            **sections,
            "attributes": attributes,
        }


def _ids_rejection(span: Span) -> Rejection | None:
    errors = []
    if not _HEX_TRACE.fullmatch(span.trace_id) or not span.trace_id.strip("0"):
        errors.append(
            FieldError("/traceId", f"trace id {span.trace_id!r} is not 16 non-zero bytes")
        )
    if not _HEX_SPAN.fullmatch(span.span_id) or not span.span_id.strip("0"):
        errors.append(FieldError("/spanId", f"span id {span.span_id!r} is not 8 non-zero bytes"))
    parent = span.parent_span_id
    if parent is not None and not _HEX_SPAN.fullmatch(parent):
        errors.append(FieldError("/parentSpanId", f"parent span id {parent!r} is not 8 bytes"))
    return Rejection(INVALID_TRACE_ID, tuple(errors)) if errors else None


def _error_section(span: Span) -> dict[str, Any]:
    exc = span.exception or {}
    code = (
        _text(lookup(span.attributes, "error_type")[1])
        or _text(exc.get("exception.type"))
        or "span_error"
    )
    message = (
        _text(span.status_message)
        or _text(exc.get("exception.message"))
        or f"span {span.name!r} ended with status ERROR"
    )
    return {"code": code, "message": message}


def _context(span: Span, op: str | None, tenant_id: str | None, is_agent_span: bool) -> _Context:
    attrs, res = span.attributes, span.resource
    service = _text(res.get("service.name")) or DEFAULT_SERVICE
    tenant = {
        "tenant_id": tenant_id or _text(res.get(TENANT_ATTRIBUTE)) or "default",
        "workspace_id": _text(res.get(WORKSPACE_ATTRIBUTE)) or DEFAULT_WORKSPACE,
        "project_id": _text(res.get(PROJECT_ATTRIBUTE)) or service,
    }
    agent = _text(lookup(attrs, "agent_name")[1]) or _text(lookup(attrs, "agent_id")[1])
    source = "agent_span" if is_agent_span else ("span" if agent else "service")
    run = {"run_id": span.trace_id, "agent_id": agent or service}
    workflow = _text(attrs.get(WORKFLOW_ATTRIBUTE)) or _text(res.get(WORKFLOW_ATTRIBUTE))
    if workflow:
        run["workflow_id"] = workflow
    out: dict[str, Any] = {"agent_source": source, "otel_service_name": service}
    if span.name:
        out["otel_span_name"] = span.name
    if span.scope:
        out["otel_scope"] = span.scope
    _, raw_op = lookup(attrs, "operation")
    if op is not None:
        out["otel_operation"] = _text(raw_op) or op
    for meaning, key in (
        ("conversation_id", "otel_conversation_id"),
        ("tool_call_id", "otel_tool_call_id"),
    ):
        value = _text(lookup(attrs, meaning)[1])
        if value:
            out[key] = value
    _, reasons = lookup(attrs, "finish_reasons")
    if isinstance(reasons, list) and reasons:
        out["otel_finish_reasons"] = ",".join(str(r) for r in reasons)
    return _Context(span, tenant, run, out)


def _usage(
    attrs: dict[str, Any], failed: bool, needs_output: bool
) -> tuple[dict[str, int] | None, bool, Rejection | None]:
    """(resource_usage, cache share unknown, rejection) from a span's usage attributes."""
    counts: dict[str, int | None] = {}
    for meaning in (
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "reasoning_tokens",
    ):
        value, rej = _count(attrs, meaning)
        if rej is not None:
            return None, False, rej
        counts[meaning] = value
    inp, out = counts["input_tokens"], counts["output_tokens"]
    if inp is None and out is None and failed:
        # A failed request reports no usage: providers bill nothing for it.
        return {"input_tokens": 0, "output_tokens": 0}, False, None
    missing = [m for m, v in (("input_tokens", inp), ("output_tokens", out)) if v is None]
    if missing == ["output_tokens"] and not needs_output:
        out = 0
    elif missing:
        names = " and ".join(ALIASES[m][0] for m in missing)
        msg = f"a model call span needs {names} to be priced (the span carries no usage)"
        return None, False, Rejection(MISSING_FIELD, (_attr_error(ALIASES[missing[0]][0], msg),))
    usage: dict[str, int] = {"input_tokens": inp or 0, "output_tokens": out or 0}
    if counts["cache_read_tokens"] is not None:
        usage["cached_tokens"] = counts["cache_read_tokens"]
    if counts["cache_write_tokens"] is not None:
        usage["cache_write_tokens"] = counts["cache_write_tokens"]
    if counts["reasoning_tokens"] is not None:
        usage["reasoning_tokens"] = counts["reasoning_tokens"]
    cache_unknown = counts["cache_read_tokens"] is None and usage["input_tokens"] > 0
    return usage, cache_unknown, None


def _latency_ms(span: Span) -> float:
    return round((span.end_ns - span.start_ns) / 1e6, 3)


def _model_call(ctx: _Context, op: str) -> list[dict[str, Any]] | Rejection:
    span, attrs = ctx.span, ctx.span.attributes
    failed = span.status_code == STATUS_ERROR
    model = _text(lookup(attrs, "response_model")[1]) or _text(lookup(attrs, "request_model")[1])
    if model is None:
        msg = "a model call span needs gen_ai.response.model or gen_ai.request.model"
        return Rejection(MISSING_FIELD, (_attr_error("gen_ai.request.model", msg),))
    provider_name, raw_provider = lookup(attrs, "provider")
    provider = _text(raw_provider)
    if provider is None:
        provider = provider_from_host(attrs.get("server.address"))
        if provider is None:
            msg = "a model call span needs gen_ai.provider.name (or gen_ai.system)"
            return Rejection(MISSING_FIELD, (_attr_error("gen_ai.provider.name", msg),))
    else:
        ctx.attributes["otel_provider"] = provider
    provider = normalise_provider(provider)
    usage, cache_unknown, rej = _usage(attrs, failed, needs_output=op != "embeddings")
    if rej is not None:
        return rej
    call: dict[str, Any] = {
        "model_call_id": f"{span.trace_id}-{span.span_id}",
        "provider": provider,
        "model": model,
        "latency_ms": _latency_ms(span),
    }
    request_id = _text(lookup(attrs, "response_id")[1])
    if request_id:
        call["request_id"] = request_id
    extra: dict[str, Any] = {"cache_share_unknown": True} if cache_unknown else {}
    sections: dict[str, Any] = {
        "model_call": call,
        "resource_usage": usage,
        "attributes_extra": extra,
    }
    if failed:
        sections["error"] = _error_section(span)
    event_type = "model_call.failed" if failed else "model_call.completed"
    return [ctx.event(event_type, "model", span.end_ns, **sections)]


def _tool_call(ctx: _Context) -> list[dict[str, Any]] | Rejection:
    span = ctx.span
    name = _text(lookup(span.attributes, "tool_name")[1])
    if name is None:
        name = span.name.removeprefix("execute_tool").strip() or None
    if name is None:
        msg = "a tool span needs gen_ai.tool.name (or a span name `execute_tool <tool>`)"
        return Rejection(MISSING_FIELD, (_attr_error("gen_ai.tool.name", msg),))
    failed = span.status_code == STATUS_ERROR
    sections: dict[str, Any] = {
        "tool_call": {
            "tool_call_id": f"{span.trace_id}-{span.span_id}",
            "tool_name": name,
            "latency_ms": _latency_ms(span),
        }
    }
    if failed:
        sections["error"] = _error_section(span)
    event_type = "tool_call.failed" if failed else "tool_call.completed"
    return [ctx.event(event_type, "tool", span.end_ns, **sections)]


def _step(ctx: _Context) -> list[dict[str, Any]]:
    span = ctx.span
    failed = span.status_code == STATUS_ERROR
    step = {"step_id": f"{span.trace_id}-{span.span_id}", "step_type": span.name or "span"}
    end: dict[str, Any] = {
        "step": {**step, "status": "error" if failed else "ok", "latency_ms": _latency_ms(span)}
    }
    if failed:
        end["error"] = _error_section(span)
    return [
        ctx.event("step.started", "step-start", span.start_ns, step=step),
        ctx.event("step.failed" if failed else "step.completed", "step-end", span.end_ns, **end),
    ]


def _run_bounds(ctx: _Context, usage: dict[str, int] | None) -> list[dict[str, Any]]:
    """`run.started` and `run.completed`/`.failed` for a span that spans the whole run."""
    span = ctx.span
    failed = span.status_code == STATUS_ERROR
    started, ended = timestamp(span.start_ns), timestamp(span.end_ns)
    extra: dict[str, Any] = {}
    if usage is None:
        # The contract asks the run's own roll-up; a span that reports none gets zeros, marked
        # so that they are never compared with the sum of the run's model calls.
        usage = {"input_tokens": 0, "output_tokens": 0}
        extra["usage_unreported"] = True
    end: dict[str, Any] = {
        "run_extra": {
            "status": "failed" if failed else "succeeded",
            "started_at": started,
            "ended_at": ended,
        },
        "resource_usage": usage,
        "attributes_extra": extra,
    }
    if failed:
        end["error"] = _error_section(span)
    return [
        ctx.event(
            "run.started",
            "run-start",
            span.start_ns,
            run_extra={"status": "running", "started_at": started},
        ),
        ctx.event("run.failed" if failed else "run.completed", "run-end", span.end_ns, **end),
    ]


def _agent_usage(attrs: dict[str, Any]) -> dict[str, int] | None:
    """An agent span's own usage roll-up, if it reports a valid one."""
    inp, rej_in = _count(attrs, "input_tokens")
    out, rej_out = _count(attrs, "output_tokens")
    if inp is None or out is None or rej_in or rej_out:
        return None
    usage = {"input_tokens": inp, "output_tokens": out}
    for meaning, key in (
        ("cache_read_tokens", "cached_tokens"),
        ("cache_write_tokens", "cache_write_tokens"),
        ("reasoning_tokens", "reasoning_tokens"),
    ):
        value, rej = _count(attrs, meaning)
        if value is not None and rej is None:
            usage[key] = value
    return usage


def map_span(span: Span, tenant_id: str | None, keep_other_spans: bool = False) -> SpanOutcome:
    """The contract events of one span (validation, redaction and storage come after).

    `tenant_id` is the token's tenant (None without tokens: the resource attribute
    `agentops.tenant_id`, else `default`). A span that is not a GenAI span yields no event
    unless `keep_other_spans`; one that claims to be a GenAI span but cannot be mapped
    yields a rejection with the attribute at fault.
    """
    op = operation_of(span.attributes)
    is_genai = op in MODEL_CALL_OPERATIONS or op in TOOL_OPERATIONS or op in AGENT_OPERATIONS
    if not is_genai and not keep_other_spans:
        return SpanOutcome(is_genai=False)
    rej = _ids_rejection(span)
    if rej is not None:
        return SpanOutcome(rejection=rej, is_genai=is_genai)
    ctx = _context(span, op, tenant_id, op in AGENT_OPERATIONS)
    if op in AGENT_OPERATIONS:
        return SpanOutcome(_run_bounds(ctx, _agent_usage(span.attributes)))
    if op in MODEL_CALL_OPERATIONS:
        mapped = _model_call(ctx, op)
    elif op in TOOL_OPERATIONS:
        mapped = _tool_call(ctx)
    else:
        mapped = _step(ctx)
    if isinstance(mapped, Rejection):
        return SpanOutcome(rejection=mapped, is_genai=is_genai)
    if span.parent_span_id is None:  # the trace's root: it spans the whole run
        usage = mapped[-1].get("resource_usage") if op in MODEL_CALL_OPERATIONS else None
        start, end = _run_bounds(ctx, usage)
        mapped = [start, *mapped, end]
    return SpanOutcome(mapped, is_genai=is_genai)
