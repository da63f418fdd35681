"""Provider usage objects -> the contract's `resource_usage`.

Each provider counts tokens its own way; the contract counts them like OpenAI and
genai-prices: `input_tokens` includes cache reads and cache writes, `output_tokens` includes
reasoning tokens, `total_tokens` is their sum.

- OpenAI Chat Completions: `prompt_tokens` already includes
  `prompt_tokens_details.cached_tokens`, `completion_tokens` already includes
  `completion_tokens_details.reasoning_tokens`. The Responses API says the same with
  `input_tokens` / `input_tokens_details.cached_tokens` / `output_tokens` /
  `output_tokens_details.reasoning_tokens`. OpenAI does not report cache writes.
- Anthropic Messages: `input_tokens` EXCLUDES `cache_read_input_tokens` and
  `cache_creation_input_tokens`, so ours is the sum of the three; thinking tokens are part of
  `output_tokens` and not reported apart.

Both helpers take the SDK's usage object (pydantic models in both SDKs) or its dict form,
and also a whole response that has a `usage`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class UsageError(ValueError):
    """A usage object without the counts the contract needs."""


def _as_dict(obj: Any) -> dict[str, Any]:
    if obj is None:
        return {}
    if isinstance(obj, Mapping):
        return dict(obj)
    dump = getattr(obj, "model_dump", None)  # pydantic v2 (both SDKs)
    if callable(dump):
        return dump()
    dump = getattr(obj, "to_dict", None)
    if callable(dump):
        return dump()
    return {k: v for k, v in vars(obj).items() if not k.startswith("_")}


def _usage_of(obj: Any) -> dict[str, Any]:
    d = _as_dict(obj)
    if "usage" in d and not any(k.endswith("tokens") for k in d):  # a whole response
        d = _as_dict(d["usage"])
    return d


def _count(d: Mapping[str, Any], key: str, required: bool = False) -> int:
    value = d.get(key)
    if value is None:
        if required:
            raise UsageError(f"usage has no '{key}'; pass the provider's usage object")
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise UsageError(f"usage '{key}' is {value!r}; expected a count >= 0")
    if int(value) != value:
        raise UsageError(f"usage '{key}' is {value!r}; expected a whole number")
    return int(value)


def _finish(inp: int, out: int, cached: int, written: int, reasoning: int | None) -> dict:
    usage: dict[str, int] = {"input_tokens": inp, "output_tokens": out, "cached_tokens": cached}
    if written:
        usage["cache_write_tokens"] = written
    if reasoning is not None:
        usage["reasoning_tokens"] = reasoning
    usage["total_tokens"] = inp + out
    return usage


def from_openai_usage(usage: Any) -> dict[str, int]:
    """`resource_usage` from an OpenAI usage (Chat Completions or Responses API shape)."""
    d = _usage_of(usage)
    if "prompt_tokens" in d or "completion_tokens" in d:  # Chat Completions
        inp = _count(d, "prompt_tokens", required=True)
        out = _count(d, "completion_tokens", required=True)
        in_details = _as_dict(d.get("prompt_tokens_details"))
        out_details = _as_dict(d.get("completion_tokens_details"))
    else:  # Responses API
        inp = _count(d, "input_tokens", required=True)
        out = _count(d, "output_tokens", required=True)
        in_details = _as_dict(d.get("input_tokens_details"))
        out_details = _as_dict(d.get("output_tokens_details"))
    cached = _count(in_details, "cached_tokens")
    reasoning = _count(out_details, "reasoning_tokens")
    if cached > inp or reasoning > out:
        raise UsageError(
            f"OpenAI usage with cached_tokens {cached} > input {inp} or reasoning_tokens "
            f"{reasoning} > output {out}: not an OpenAI usage object?"
        )
    return _finish(inp, out, cached, 0, reasoning)


def from_anthropic_usage(usage: Any) -> dict[str, int]:
    """`resource_usage` from an Anthropic Messages usage (cache reads and writes added in)."""
    d = _usage_of(usage)
    uncached = _count(d, "input_tokens", required=True)
    out = _count(d, "output_tokens", required=True)
    read = _count(d, "cache_read_input_tokens")
    written = _count(d, "cache_creation_input_tokens")
    if d.get("cache_creation_input_tokens") is None:  # only the per-TTL breakdown was given
        by_ttl = _as_dict(d.get("cache_creation"))
        written = sum(_count(by_ttl, k) for k in by_ttl if k.endswith("input_tokens"))
    return _finish(uncached + read + written, out, read, written, None)
