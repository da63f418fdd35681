"""An agent SDK for code that does not use OpenTelemetry: runs, steps, calls as context managers.

    from ingestion.producers.client import AgentOpsClient
    from ingestion.producers.sdk import Agent

    with AgentOpsClient("http://127.0.0.1:8000", token) as client:
        agent = Agent(client, "acme", "prod", "support-bot", agent_id="triage")
        agent.check_budget()                  # raises BudgetExceeded past a `block` budget
        with agent.run(workflow_id="ticket") as run:
            with run.step("plan") as step:
                with step.model_call("openai", "gpt-4o") as call:
                    call.record(openai_client.chat.completions.create(...))
                with step.tool_call("search"):
                    ...
                step.policy_decision("pii-guard", "allow", reason="no PII in the answer")

Each block sends its events when it starts and ends (`run.started`, `step.completed`,
`model_call.failed`, ...) through the batching, spooling `AgentOpsClient`. An exception
leaving a block marks it failed (error code: the exception's class name) and goes on up.
Ids are W3C trace context: a run is one trace (its `trace_id`), every block one span whose
parent is the enclosing block; `run.traceparent` is the header to pass to services the agent
calls, and `Agent.run(traceparent=...)` continues a trace that arrived with a request.
`record()` takes an OpenAI or Anthropic response (or its `usage`) and counts tokens with
`ingestion.producers.usage_adapters`, so cached and reasoning tokens are priced as the
provider bills.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from ingestion.producers.usage_adapters import from_anthropic_usage, from_openai_usage

Decision = Literal["allow", "block", "escalate", "redact"]
ActorType = Literal["user", "agent", "service"]
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}")
_USAGE_KEYS = (
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
)


class Sender(Protocol):
    """What the SDK needs of a client: `ingestion.producers.client.AgentOpsClient` is one."""

    def send(self, event: dict[str, Any]) -> None: ...

    def check_budget(
        self,
        tenant_id: str | None = None,
        workspace_id: str | None = None,
        project_id: str | None = None,
        agent_id: str | None = None,
    ) -> dict[str, Any]: ...


class SdkError(RuntimeError):
    """The SDK was used in a way that cannot produce a valid event."""


class BudgetExceeded(RuntimeError):
    """A `block` budget of this agent's tenant, workspace, project or agent is over its limit.

    `blocking` lists the budget ids; `answer` is the loader's whole `/v1/budgets/check` answer.
    """

    def __init__(self, answer: dict[str, Any]):
        self.answer = answer
        self.blocking: list[str] = list(answer.get("blocking") or [])
        over = [
            f"{b['budget_id']} ({b['scope']} {b.get('scope_id') or ''}: {b['spend_usd']} of "
            f"{b['limit_usd']} USD this {b['period']} period)".replace(" )", ")")
            for b in answer.get("budgets") or []
            if b.get("budget_id") in self.blocking
        ]
        super().__init__(
            "blocked by budget(s) over their limit: "
            + ("; ".join(over) or ", ".join(self.blocking))
            + f" (as of the warehouse build at {answer.get('as_of')})"
        )


def new_trace_id() -> str:
    """A random W3C trace id (32 lowercase hex digits, never all zero)."""
    while (value := secrets.token_hex(16)) == "0" * 32:
        pass
    return value


def new_span_id() -> str:
    """A random W3C span id (16 lowercase hex digits, never all zero)."""
    while (value := secrets.token_hex(8)) == "0" * 16:
        pass
    return value


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _error(exc: BaseException) -> dict[str, Any]:
    return {"code": type(exc).__name__, "message": str(exc) or type(exc).__name__}


@dataclass
class _Span:
    """One block: its span id, its parent, when it started; events are sent through `run`."""

    run: Run
    span_id: str
    parent_span_id: str | None
    step_id: str | None = None
    started: float = field(default_factory=time.perf_counter)

    def _event(self, event_type: str, kind: str, **sections: Any) -> dict[str, Any]:
        return self.run._event(event_type, kind, self.span_id, self.parent_span_id, **sections)

    def _latency_ms(self) -> float:
        return round((time.perf_counter() - self.started) * 1000, 3)

    def _child(self, step_id: str | None = None) -> _Span:
        return _Span(self.run, new_span_id(), self.span_id, step_id or self.step_id)

    @contextmanager
    def model_call(self, provider: str, model: str) -> Iterator[ModelCall]:
        """A model call; `record()` its response (or usage) before the block ends."""
        call = ModelCall(self._child(), provider, model)
        try:
            yield call
        except BaseException as exc:
            call._finish(exc)
            raise
        call._finish(None)

    @contextmanager
    def tool_call(self, tool_name: str) -> Iterator[ToolCall]:
        """A tool call: `tool_call.completed`, or `tool_call.failed` if the block raises."""
        tool = ToolCall(self._child(), tool_name)
        try:
            yield tool
        except BaseException as exc:
            tool._finish(exc)
            raise
        tool._finish(None)

    def policy_decision(
        self,
        policy_id: str,
        decision: Decision,
        reason: str,
        *,
        rule: str | None = None,
        actor_type: ActorType = "agent",
        actor_id: str | None = None,
    ) -> None:
        """A governance decision taken here (allow, block, escalate or redact), and why."""
        policy: dict[str, Any] = {
            "policy_id": policy_id,
            "decision": decision,
            "reason": reason,
            "actor": {"actor_type": actor_type, "actor_id": actor_id or self.run.agent_id},
        }
        if rule:
            policy["rule"] = rule
        span = self._child()
        span._event("policy.decision", "policy", policy=policy)


@dataclass
class ModelCall:
    """The block of `model_call()`."""

    span: _Span
    provider: str
    model: str
    usage: dict[str, int] | None = None
    request_id: str | None = None

    @property
    def model_call_id(self) -> str:
        return f"{self.span.run.trace_id}-{self.span.span_id}"

    def record(self, response: Any = None, *, usage: dict[str, int] | None = None) -> None:
        """The call's response (OpenAI or Anthropic, or its `usage`), or contract `usage`.

        The provider says which adapter counts the tokens; the response's `model` (the dated
        version the provider served) and `id` replace the requested model and request id.
        """
        if usage is not None:
            self.usage = dict(usage)
        elif response is None:
            raise SdkError("record() needs a provider response or usage=")
        elif self.provider.strip().lower() == "anthropic":
            self.usage = from_anthropic_usage(response)
        else:
            self.usage = from_openai_usage(response)
        served = getattr(response, "model", None) if response is not None else None
        if isinstance(served, str) and served:
            self.model = served
        rid = getattr(response, "id", None) if response is not None else None
        if isinstance(rid, str) and rid:
            self.request_id = rid

    def _finish(self, exc: BaseException | None) -> None:
        if self.usage is None and exc is None:
            raise SdkError(
                f"model call {self.provider}/{self.model} ended without record(response): "
                "its tokens are what it costs"
            )
        usage = self.usage or {"input_tokens": 0, "output_tokens": 0}
        call: dict[str, Any] = {
            "model_call_id": self.model_call_id,
            "provider": self.provider,
            "model": self.model,
            "latency_ms": self.span._latency_ms(),
        }
        if self.span.step_id:
            call["step_id"] = self.span.step_id
        if self.request_id:
            call["request_id"] = self.request_id
        sections: dict[str, Any] = {"model_call": call, "resource_usage": usage}
        if exc is not None:
            sections["error"] = _error(exc)
        self.span.run._add_usage(usage)
        kind = "model_call.failed" if exc is not None else "model_call.completed"
        self.span._event(kind, "model", **sections)


@dataclass
class ToolCall:
    """The block of `tool_call()`."""

    span: _Span
    tool_name: str

    def _finish(self, exc: BaseException | None) -> None:
        tool: dict[str, Any] = {
            "tool_call_id": f"{self.span.run.trace_id}-{self.span.span_id}",
            "tool_name": self.tool_name,
            "latency_ms": self.span._latency_ms(),
        }
        if self.span.step_id:
            tool["step_id"] = self.span.step_id
        sections: dict[str, Any] = {"tool_call": tool}
        if exc is not None:
            sections["error"] = _error(exc)
        kind = "tool_call.failed" if exc is not None else "tool_call.completed"
        self.span._event(kind, "tool", **sections)


@dataclass
class Step(_Span):
    """The block of `run.step()`: model calls, tool calls and decisions inside are its own."""

    step_type: str = ""


@dataclass
class Run(_Span):
    """The block of `agent.run()`: one run, one trace."""

    agent: Agent | None = None
    trace_id: str = ""
    workflow_id: str | None = None
    _usage: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_USAGE_KEYS, 0))

    @property
    def run_id(self) -> str:
        return self.trace_id

    @property
    def agent_id(self) -> str:
        assert self.agent is not None
        return self.agent.agent_id

    @property
    def traceparent(self) -> str:
        """The W3C `traceparent` header for calls this run makes (its trace, its span)."""
        return f"00-{self.trace_id}-{self.span_id}-01"

    @contextmanager
    def step(self, step_type: str) -> Iterator[Step]:
        """A step of the run (plan, retrieve, act, ...): `step.started` then `.completed`."""
        span_id = new_span_id()
        step = Step(self, span_id, self.span_id, f"{self.trace_id}-{span_id}", step_type=step_type)
        ids = {"step_id": step.step_id, "step_type": step_type}
        step._event("step.started", "step-start", step=ids)
        try:
            yield step
        except BaseException as exc:
            end = {**ids, "status": "failed", "latency_ms": step._latency_ms()}
            step._event("step.failed", "step-end", step=end, error=_error(exc))
            raise
        end = {**ids, "status": "succeeded", "latency_ms": step._latency_ms()}
        step._event("step.completed", "step-end", step=end)

    def _add_usage(self, usage: dict[str, int]) -> None:
        for key in _USAGE_KEYS:
            self._usage[key] += int(usage.get(key, 0))

    def _event(
        self,
        event_type: str,
        kind: str,
        span_id: str,
        parent_span_id: str | None,
        **sections: Any,
    ) -> dict[str, Any]:
        agent = self.agent
        assert agent is not None
        run: dict[str, Any] = {"run_id": self.run_id, "agent_id": agent.agent_id}
        if self.workflow_id:
            run["workflow_id"] = self.workflow_id
        run.update(sections.pop("run_extra", {}))
        event: dict[str, Any] = {
            "event_version": "0",
            "event_id": f"sdk-{self.trace_id}-{span_id}-{kind}",
            "event_type": event_type,
            "occurred_at": _now(),
            "tenant": {
                "tenant_id": agent.tenant_id,
                "workspace_id": agent.workspace_id,
                "project_id": agent.project_id,
            },
            "run": run,
            "trace": {
                "trace_id": self.trace_id,
                "span_id": span_id,
                "parent_span_id": parent_span_id,
            },
            **sections,
        }
        agent.client.send(event)
        return event


@dataclass
class Agent:
    """Who is running: the tenant (it must be the token's), workspace, project and agent."""

    client: Sender
    tenant_id: str
    workspace_id: str
    project_id: str
    agent_id: str

    @contextmanager
    def run(
        self, workflow_id: str | None = None, *, traceparent: str | None = None
    ) -> Iterator[Run]:
        """One run: `run.started`, then `run.completed` or `run.failed` with its usage.

        `traceparent` (a W3C header) makes the run part of the caller's trace.
        """
        trace_id, parent = new_trace_id(), None
        if traceparent is not None:
            m = _TRACEPARENT.fullmatch(traceparent.strip().lower())
            if m is None:
                raise SdkError(f"traceparent {traceparent!r} is not a W3C traceparent header")
            trace_id, parent = m.group(1), m.group(2)
        run = Run(
            None,  # type: ignore[arg-type]  # a run is its own run, set below
            new_span_id(),
            parent,
            agent=self,
            trace_id=trace_id,
            workflow_id=workflow_id,
        )
        run.run = run
        started_at = _now()
        run._event(
            "run.started",
            "run-start",
            run.span_id,
            parent,
            run_extra={"status": "running", "started_at": started_at},
        )
        failure: BaseException | None = None
        try:
            yield run
        except BaseException as exc:
            failure = exc
            raise
        finally:
            usage = {k: v for k, v in run._usage.items() if v or k in _USAGE_KEYS[:2]}
            ended = {"started_at": started_at, "ended_at": _now()}
            status = "succeeded" if failure is None else "failed"
            extra = {} if failure is None else {"error": _error(failure)}
            run._event(
                "run.completed" if failure is None else "run.failed",
                "run-end",
                run.span_id,
                parent,
                run_extra={**ended, "status": status},
                resource_usage=usage,
                **extra,
            )

    def check_budget(self) -> dict[str, Any]:
        """Raise BudgetExceeded if a `block` budget covering this agent is over its limit.

        Asks the loader's `GET /v1/budgets/check` (as of the last warehouse build) for the
        tenant, workspace, project and agent budgets; returns its answer when allowed.
        """
        return check_budget(self.client, self.workspace_id, self.project_id, self.agent_id)


def check_budget(
    client: Sender,
    workspace_id: str | None = None,
    project_id: str | None = None,
    agent_id: str | None = None,
) -> dict[str, Any]:
    """`GET /v1/budgets/check` for the token's tenant; BudgetExceeded when not allowed."""
    answer = client.check_budget(
        workspace_id=workspace_id, project_id=project_id, agent_id=agent_id
    )
    if not answer.get("allowed", True):
        raise BudgetExceeded(answer)
    return answer
