"""The agent SDK: nested blocks make one valid, correctly parented trace (no server needed)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from ingestion.producers.sdk import Agent, BudgetExceeded, SdkError, check_budget
from ingestion.validation.contract import ValidEvent, check_event


class Collect:
    """A Sender that keeps what the SDK sends, and answers budget checks from a script."""

    def __init__(self, budget_answer: dict[str, Any] | None = None) -> None:
        self.events: list[dict[str, Any]] = []
        self.budget_answer = budget_answer or {"allowed": True, "blocking": [], "budgets": []}

    def send(self, event: dict[str, Any]) -> None:
        self.events.append(event)

    def check_budget(self, **scope: Any) -> dict[str, Any]:
        self.scope = scope
        return self.budget_answer


def openai_response() -> Any:
    """A real `openai` ChatCompletion object, as the client returns it."""
    from openai.types.chat import ChatCompletion

    return ChatCompletion.model_validate(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": "gpt-4o-2024-08-06",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "ok"},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": 500,
                "completion_tokens": 40,
                "total_tokens": 540,
                "prompt_tokens_details": {"cached_tokens": 100},
                "completion_tokens_details": {"reasoning_tokens": 8},
            },
        }
    )


def test_nested_run_step_model_tool_policy_is_a_valid_parented_trace() -> None:
    sink = Collect()
    agent = Agent(sink, "acme", "prod", "bot", agent_id="triage")
    with agent.run(workflow_id="ticket") as run, run.step("plan") as step:
        with step.model_call("openai", "gpt-4o") as call:
            call.record(openai_response())
        with pytest.raises(TimeoutError), step.tool_call("search"):
            raise TimeoutError("search took too long")
        step.policy_decision("pii-guard", "redact", reason="an e-mail address", rule="no-pii")
    events = sink.events
    assert [e["event_type"] for e in events] == [
        "run.started",
        "step.started",
        "model_call.completed",
        "tool_call.failed",
        "policy.decision",
        "step.completed",
        "run.completed",
    ]
    for e in events:
        assert isinstance(check_event(e, datetime.now(UTC)), ValidEvent), e
    trace = {e["trace"]["trace_id"] for e in events}
    assert trace == {run.trace_id} and {e["run"]["run_id"] for e in events} == {run.trace_id}
    run_span = events[0]["trace"]["span_id"]
    step_span = events[1]["trace"]["span_id"]
    assert events[0]["trace"]["parent_span_id"] is None
    assert events[-1]["trace"]["span_id"] == run_span
    assert events[1]["trace"]["parent_span_id"] == run_span
    assert events[5]["trace"]["span_id"] == step_span
    for e in events[2:5]:
        assert e["trace"]["parent_span_id"] == step_span
    assert events[2]["model_call"]["step_id"] == events[1]["step"]["step_id"]
    assert events[2]["model_call"]["model"] == "gpt-4o-2024-08-06"
    assert events[2]["model_call"]["request_id"] == "chatcmpl-1"
    assert events[2]["resource_usage"] == {
        "input_tokens": 500,
        "output_tokens": 40,
        "cached_tokens": 100,
        "reasoning_tokens": 8,
        "total_tokens": 540,
    }
    assert events[3]["error"] == {"code": "TimeoutError", "message": "search took too long"}
    assert events[-1]["resource_usage"] == {  # the run's roll-up of its calls
        "input_tokens": 500,
        "output_tokens": 40,
        "cached_tokens": 100,
        "reasoning_tokens": 8,
    }
    assert len({e["event_id"] for e in events}) == len(events)
    assert run.traceparent == f"00-{run.trace_id}-{run_span}-01"


def test_a_run_continues_an_incoming_trace_and_fails_with_the_exception() -> None:
    sink = Collect()
    agent = Agent(sink, "acme", "prod", "bot", agent_id="triage")
    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    with pytest.raises(ValueError), agent.run(traceparent=parent):
        raise ValueError("bad plan")
    start, end = sink.events
    assert start["trace"]["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert start["trace"]["parent_span_id"] == "00f067aa0ba902b7"
    assert (end["event_type"], end["run"]["status"], end["error"]["code"]) == (
        "run.failed",
        "failed",
        "ValueError",
    )
    assert isinstance(check_event(end, datetime.now(UTC)), ValidEvent)


def test_a_model_call_without_its_response_is_an_error() -> None:
    agent = Agent(Collect(), "acme", "prod", "bot", agent_id="triage")
    with pytest.raises(SdkError, match="without record"), agent.run() as run:  # noqa: SIM117
        with run.model_call("anthropic", "claude-3-5-sonnet-20241022"):
            pass


def test_check_budget_raises_a_clear_exception_for_a_block_budget() -> None:
    answer = {
        "allowed": False,
        "blocking": ["cap"],
        "as_of": "2026-11-20T10:00:00Z",
        "budgets": [
            {"budget_id": "cap", "scope": "agent", "scope_id": "triage", "spend_usd": "12.5",
             "limit_usd": "10", "period": "daily"},
        ],
    }  # fmt: skip
    sink = Collect(answer)
    with pytest.raises(BudgetExceeded) as info:
        Agent(sink, "acme", "prod", "bot", agent_id="triage").check_budget()
    assert str(info.value) == (
        "blocked by budget(s) over their limit: cap (agent triage: 12.5 of 10 USD this daily "
        "period) (as of the warehouse build at 2026-11-20T10:00:00Z)"
    )
    assert sink.scope == {"workspace_id": "prod", "project_id": "bot", "agent_id": "triage"}
    assert check_budget(Collect()) == {"allowed": True, "blocking": [], "budgets": []}
