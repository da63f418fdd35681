"""Provider usage -> resource_usage, on the usage shapes the providers document."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pydantic
import pytest

from ingestion.producers.usage_adapters import UsageError, from_anthropic_usage, from_openai_usage
from ingestion.validation.contract import ValidEvent, check_event
from tests.conftest import make_event

# OpenAI Chat Completions, prompt caching guide: cached tokens are part of prompt_tokens.
OPENAI_CACHED = {
    "prompt_tokens": 2006,
    "completion_tokens": 300,
    "total_tokens": 2306,
    "prompt_tokens_details": {"cached_tokens": 1920},
    "completion_tokens_details": {
        "reasoning_tokens": 0,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    },
}
# OpenAI reasoning models guide: reasoning tokens are part of completion_tokens.
OPENAI_REASONING = {
    "prompt_tokens": 9,
    "completion_tokens": 1843,
    "total_tokens": 1852,
    "completion_tokens_details": {"reasoning_tokens": 1024},
}
# OpenAI Responses API.
OPENAI_RESPONSES = {
    "input_tokens": 36,
    "input_tokens_details": {"cached_tokens": 12},
    "output_tokens": 87,
    "output_tokens_details": {"reasoning_tokens": 50},
    "total_tokens": 123,
}
# Anthropic Messages, prompt caching guide: input_tokens counts only the uncached part.
ANTHROPIC_CACHE_WRITE = {
    "input_tokens": 21,
    "cache_creation_input_tokens": 188086,
    "cache_read_input_tokens": 0,
    "output_tokens": 393,
}
ANTHROPIC_CACHE_READ = {
    "input_tokens": 2048,
    "cache_read_input_tokens": 1800,
    "cache_creation_input_tokens": 248,
    "output_tokens": 503,
    "cache_creation": {"ephemeral_5m_input_tokens": 148, "ephemeral_1h_input_tokens": 100},
    "server_tool_use": None,
    "service_tier": "standard",
}


def test_openai_chat_completions() -> None:
    assert from_openai_usage(OPENAI_CACHED) == {
        "input_tokens": 2006,
        "output_tokens": 300,
        "cached_tokens": 1920,
        "reasoning_tokens": 0,
        "total_tokens": 2306,
    }
    usage = from_openai_usage(OPENAI_REASONING)
    assert (usage["output_tokens"], usage["reasoning_tokens"], usage["cached_tokens"]) == (
        1843,
        1024,
        0,
    )
    assert usage["total_tokens"] == OPENAI_REASONING["total_tokens"]


def test_openai_responses_api() -> None:
    assert from_openai_usage(OPENAI_RESPONSES) == {
        "input_tokens": 36,
        "output_tokens": 87,
        "cached_tokens": 12,
        "reasoning_tokens": 50,
        "total_tokens": 123,
    }


def test_anthropic_adds_cache_reads_and_writes_to_input() -> None:
    assert from_anthropic_usage(ANTHROPIC_CACHE_WRITE) == {
        "input_tokens": 21 + 188086,
        "output_tokens": 393,
        "cached_tokens": 0,
        "cache_write_tokens": 188086,
        "total_tokens": 21 + 188086 + 393,
    }
    usage = from_anthropic_usage(ANTHROPIC_CACHE_READ)
    assert usage["input_tokens"] == 2048 + 1800 + 248
    assert (usage["cached_tokens"], usage["cache_write_tokens"]) == (1800, 248)
    assert "reasoning_tokens" not in usage  # Anthropic does not report thinking apart
    only_breakdown = {**ANTHROPIC_CACHE_READ, "cache_creation_input_tokens": None}
    assert from_anthropic_usage(only_breakdown)["cache_write_tokens"] == 248
    plain = {"input_tokens": 10, "output_tokens": 5}  # no caching at all
    assert from_anthropic_usage(plain)["input_tokens"] == 10


class _SdkDetails(pydantic.BaseModel):
    cached_tokens: int | None = None


class _SdkUsage(pydantic.BaseModel):
    """Shaped like openai.types.CompletionUsage (a pydantic model)."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: _SdkDetails | None = None
    completion_tokens_details: None = None


def test_sdk_objects_and_whole_responses_are_accepted() -> None:
    sdk = _SdkUsage(
        prompt_tokens=100,
        completion_tokens=20,
        total_tokens=120,
        prompt_tokens_details=_SdkDetails(cached_tokens=None),
    )
    assert from_openai_usage(sdk)["cached_tokens"] == 0
    response = SimpleNamespace(id="msg_1", usage=SimpleNamespace(**ANTHROPIC_CACHE_WRITE))
    assert from_anthropic_usage(response)["cache_write_tokens"] == 188086


@pytest.mark.parametrize(
    "usage",
    [OPENAI_CACHED, OPENAI_REASONING, OPENAI_RESPONSES],
)
def test_openai_results_pass_the_contract(usage: dict) -> None:
    event = make_event(resource_usage=from_openai_usage(usage))
    assert isinstance(check_event(event, datetime.now(UTC)), ValidEvent)


@pytest.mark.parametrize("usage", [ANTHROPIC_CACHE_WRITE, ANTHROPIC_CACHE_READ])
def test_anthropic_results_pass_the_contract(usage: dict) -> None:
    event = make_event(
        model_call={"model_call_id": "mc-1", "provider": "anthropic", "model": "claude-sonnet-4"},
        resource_usage=from_anthropic_usage(usage),
    )
    assert isinstance(check_event(event, datetime.now(UTC)), ValidEvent)


def test_bad_usage_is_refused_with_the_field() -> None:
    with pytest.raises(UsageError, match="prompt_tokens"):
        from_openai_usage({"completion_tokens": 3})
    with pytest.raises(UsageError, match="'input_tokens' is -1"):
        from_anthropic_usage({"input_tokens": -1, "output_tokens": 2})
    with pytest.raises(UsageError, match="output_tokens"):
        from_anthropic_usage({"input_tokens": 1})
    with pytest.raises(UsageError):
        from_openai_usage({"prompt_tokens": 5, "completion_tokens": 1,
                           "prompt_tokens_details": {"cached_tokens": 9}})  # fmt: skip
