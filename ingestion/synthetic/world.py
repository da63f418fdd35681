"""The synthetic world: the model catalog, workflows, tools, policies, tenants, and the options.

Every (provider, model) of the catalog resolves in genai-prices; `UNKNOWN_MODELS` resolve nowhere.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from ingestion.validation.contract import (
    CACHE_TOKENS_EXCEED_INPUT,
    DUPLICATE_KEY,
    EVENT_TOO_LARGE,
    INVALID_JSON,
    INVALID_TIMESTAMP,
    INVALID_TRACE_ID,
    INVALID_UTF8,
    MISSING_FIELD,
    NON_FINITE_NUMBER,
    TOTAL_TOKENS_MISMATCH,
    UNKNOWN_FIELD,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DAY_MS = 86_400_000
HOUR_MS = 3_600_000

# Kinds of line `generate_lines` yields besides the defects below.
VALID = "valid"
DUPLICATE = "duplicate"

# Defects cycle in this order, one per invalid line; each maps to the loader's reason code.
EXPECTED_REASON: dict[str, str] = {
    "missing_field": MISSING_FIELD,
    "unknown_field": UNKNOWN_FIELD,
    "bad_trace_id": INVALID_TRACE_ID,
    "naive_timestamp": INVALID_TIMESTAMP,
    "cache_tokens_exceed_input": CACHE_TOKENS_EXCEED_INPUT,
    "total_tokens_mismatch": TOTAL_TOKENS_MISMATCH,
    "nan": NON_FINITE_NUMBER,
    "duplicate_key": DUPLICATE_KEY,
    "invalid_json": INVALID_JSON,
    "invalid_utf8": INVALID_UTF8,
    "oversized": EVENT_TOO_LARGE,
}
DEFECTS: tuple[str, ...] = tuple(EXPECTED_REASON)

# Mean events per run with the default options (measured: 14.4-14.5 over a week of data);
# `--events N` uses it to size the window's traffic before capping at exactly N lines.
EVENTS_PER_RUN = 14.5


class GeneratorError(Exception):
    """Options that cannot produce data, or a sink that refused it; the message says which."""


# --------------------------------------------------------------------------------------------
# The model catalog. Every (provider, model) here resolves in genai-prices 0.2.3, including the
# dated snapshots (tests check it); UNKNOWN_MODELS resolve nowhere, so the ledger books them
# as unpriced. Rates are USD per million tokens (input, cache read, cache write, output) and
# are used only for the producer-reported `cost`, which is deliberately approximate (no
# tiers, no time-of-day prices), as real producers' numbers are.


@dataclass(frozen=True)
class ModelSpec:
    """One model a producer can call, and how its usage looks."""

    provider: str
    model: str
    snapshots: tuple[str, ...] = ()
    weight: float = 0.0  # share as a workflow's main model (cheap models most often)
    strong_weight: float = 0.0  # share as a workflow's planning / reasoning model
    cache: str = ""  # "prefix" (OpenAI-style reads), "explicit" (Anthropic reads + writes),
    # "implicit" (Gemini, DeepSeek reads), "" none
    reasoning: bool = False
    tiered: bool = False  # price tiers above 200k input tokens (long prompts go here)
    sends_total: bool = True  # whether the provider's usage carries a total
    max_input: int = 120_000
    ttft_ms: float = 400.0
    ms_per_token: float = 10.0
    rates: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)


CATALOG: tuple[ModelSpec, ...] = (
    ModelSpec("openai", "gpt-4o-mini", ("gpt-4o-mini-2024-07-18",), 30, 0, "prefix",
              ttft_ms=350, ms_per_token=8, rates=(0.15, 0.075, 0.15, 0.6)),
    ModelSpec("openai", "gpt-4.1-mini", ("gpt-4.1-mini-2025-04-14",), 12, 0, "prefix",
              ttft_ms=380, ms_per_token=8, rates=(0.4, 0.1, 0.4, 1.6)),
    ModelSpec("openai", "gpt-4.1-nano", ("gpt-4.1-nano-2025-04-14",), 6, 0, "prefix",
              ttft_ms=250, ms_per_token=5, rates=(0.1, 0.025, 0.1, 0.4)),
    ModelSpec("openai", "gpt-4o", ("gpt-4o-2024-08-06", "gpt-4o-2024-11-20"), 5, 14, "prefix",
              ttft_ms=500, ms_per_token=12, rates=(2.5, 1.25, 2.5, 10.0)),
    ModelSpec("openai", "gpt-4.1", ("gpt-4.1-2025-04-14",), 3, 12, "prefix",
              ttft_ms=550, ms_per_token=12, rates=(2.0, 0.5, 2.0, 8.0)),
    ModelSpec("openai", "o3-mini", ("o3-mini-2025-01-31",), 1, 6, "prefix", reasoning=True,
              ttft_ms=900, ms_per_token=6, rates=(1.1, 0.55, 1.1, 4.4)),
    ModelSpec("openai", "o4-mini", ("o4-mini-2025-04-16",), 1, 8, "prefix", reasoning=True,
              ttft_ms=900, ms_per_token=6, rates=(1.1, 0.275, 1.1, 4.4)),
    ModelSpec("anthropic", "claude-3-5-haiku-latest", ("claude-3-5-haiku-20241022",), 9, 0,
              "explicit", sends_total=False, ttft_ms=500, ms_per_token=9,
              rates=(0.8, 0.08, 1.0, 4.0)),
    ModelSpec("anthropic", "claude-sonnet-4", ("claude-sonnet-4-20250514",), 2, 14, "explicit",
              sends_total=False, ttft_ms=900, ms_per_token=14, rates=(3.0, 0.3, 3.75, 15.0)),
    ModelSpec("anthropic", "claude-sonnet-4-5", ("claude-sonnet-4-5-20250929",), 1, 10,
              "explicit", tiered=True, sends_total=False, ttft_ms=900, ms_per_token=14,
              rates=(3.0, 0.3, 3.75, 15.0)),
    ModelSpec("anthropic", "claude-opus-4", ("claude-opus-4-20250514",), 0, 3, "explicit",
              sends_total=False, ttft_ms=1500, ms_per_token=25, rates=(15.0, 1.5, 18.75, 75.0)),
    ModelSpec("google", "gemini-2.5-flash", (), 12, 0, "implicit", reasoning=True,
              ttft_ms=350, ms_per_token=5, rates=(0.3, 0.03, 0.3, 2.5)),
    ModelSpec("google", "gemini-2.0-flash", ("gemini-2.0-flash-001",), 5, 0, "implicit",
              ttft_ms=300, ms_per_token=4, rates=(0.1, 0.025, 0.1, 0.4)),
    ModelSpec("google", "gemini-2.5-flash-lite", (), 4, 0, "implicit",
              ttft_ms=250, ms_per_token=3, rates=(0.1, 0.01, 0.1, 0.4)),
    ModelSpec("google", "gemini-2.5-pro", (), 1, 8, "implicit", reasoning=True, tiered=True,
              ttft_ms=1200, ms_per_token=10, rates=(1.25, 0.125, 1.25, 10.0)),
    ModelSpec("deepseek", "deepseek-chat", (), 4, 0, "implicit", max_input=60_000,
              ttft_ms=700, ms_per_token=20, rates=(0.27, 0.07, 0.27, 1.1)),
    ModelSpec("deepseek", "deepseek-reasoner", (), 0, 3, "implicit", reasoning=True,
              max_input=60_000, ttft_ms=1000, ms_per_token=18, rates=(0.55, 0.14, 0.55, 2.19)),
    ModelSpec("mistral", "mistral-small-latest", (), 4, 0, ttft_ms=300, ms_per_token=7,
              rates=(0.1, 0.0, 0.1, 0.3)),
    ModelSpec("mistral", "mistral-large-latest", ("mistral-large-2411",), 0, 3,
              ttft_ms=600, ms_per_token=15, rates=(2.0, 0.0, 2.0, 6.0)),
)  # fmt: skip

UNKNOWN_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec("selfhosted", "llama-3-70b-internal", ttft_ms=250, ms_per_token=12),
    ModelSpec("selfhosted", "qwen2.5-72b-instruct", ttft_ms=250, ms_per_token=12),
    ModelSpec("azure", "prod-gpt4o-eastus", cache="prefix", ttft_ms=500, ms_per_token=12),
    ModelSpec("vllm", "mixtral-8x7b-instruct", ttft_ms=200, ms_per_token=9),
)

LONG_CONTEXT = tuple(m for m in CATALOG if m.tiered)

# --------------------------------------------------------------------------------------------
# The world: workflows (what agents do), tools, policies, tenants.


@dataclass(frozen=True)
class WorkflowTemplate:
    """A kind of agent workflow: its steps, tools and how often it goes wrong."""

    name: str
    agent: str
    project: str
    failure_factor: float  # multiplies every failure probability: some workflows are flaky
    steps: tuple[str, ...]  # "tool_use*" repeats as an agent loop
    tools: tuple[str, ...]


WORKFLOWS: tuple[WorkflowTemplate, ...] = (
    WorkflowTemplate("support-triage", "triage-bot", "support", 0.6,
                     ("plan", "retrieve", "respond"), ("crm_lookup", "vector_search")),
    WorkflowTemplate("invoice-extraction", "ap-clerk", "finance", 0.4,
                     ("extract", "validate", "respond"), ("ocr_pdf", "erp_lookup")),
    WorkflowTemplate("web-research", "researcher", "research", 3.0,
                     ("plan", "tool_use*", "summarize", "respond"),
                     ("web_search", "http_get", "python_exec")),
    WorkflowTemplate("code-review", "reviewer", "engineering", 1.2,
                     ("plan", "retrieve", "reason", "respond"), ("git_diff", "run_tests")),
    WorkflowTemplate("lead-enrichment", "sdr-assistant", "sales", 1.6,
                     ("tool_use*", "respond"), ("web_search", "crm_lookup", "company_lookup")),
    WorkflowTemplate("contract-summary", "legal-reader", "legal", 0.8,
                     ("retrieve", "summarize", "respond"), ("file_read", "vector_search")),
    WorkflowTemplate("incident-responder", "oncall-copilot", "engineering", 2.2,
                     ("plan", "tool_use*", "reason", "respond"),
                     ("logs_query", "metrics_query", "pagerduty_lookup", "slack_post")),
    WorkflowTemplate("data-qa", "analyst", "analytics", 1.0,
                     ("plan", "tool_use*", "respond"), ("sql_query", "python_exec")),
    WorkflowTemplate("meeting-notes", "scribe", "ops", 0.3,
                     ("summarize", "respond"), ("calendar_lookup", "file_read")),
    WorkflowTemplate("email-drafter", "sdr-assistant", "sales", 0.5,
                     ("retrieve", "respond"), ("crm_lookup", "send_email")),
)  # fmt: skip

# Median latency (ms) of each tool; latencies are lognormal around it.
TOOL_MEDIAN_MS: dict[str, float] = {
    "crm_lookup": 250, "vector_search": 120, "ocr_pdf": 2400, "erp_lookup": 400,
    "web_search": 900, "http_get": 650, "python_exec": 1500, "git_diff": 300,
    "run_tests": 9000, "company_lookup": 500, "file_read": 80, "logs_query": 1800,
    "metrics_query": 700, "pagerduty_lookup": 350, "slack_post": 300, "sql_query": 1100,
    "calendar_lookup": 200, "send_email": 450,
}  # fmt: skip

# Lognormal mu of input and output tokens for a model call in each kind of step.
STEP_TOKENS: dict[str, tuple[float, float]] = {
    "plan": (7.2, 5.3), "retrieve": (7.6, 4.8), "extract": (8.4, 5.5), "validate": (7.0, 4.0),
    "reason": (8.0, 5.8), "tool_use": (7.6, 4.3), "summarize": (8.9, 5.9), "respond": (7.8, 5.6),
}  # fmt: skip

TENANT_NAMES = (
    "acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "tyrell", "cyberdyne",
    "wonka", "soylent", "oscorp",
)  # fmt: skip

# Relative traffic by local hour (office hours, a lunch dip) and by UTC weekday (Mon first).
HOURLY = (
    0.12, 0.08, 0.06, 0.05, 0.05, 0.08, 0.2, 0.45, 0.8, 1.0, 1.0, 0.95,
    0.8, 0.9, 1.0, 1.0, 0.95, 0.8, 0.6, 0.45, 0.35, 0.3, 0.22, 0.16,
)  # fmt: skip
WEEKDAY = tuple(w * 7 / 6 for w in (1.08, 1.12, 1.12, 1.1, 1.0, 0.35, 0.23))  # mean 1.0
TZ_OFFSETS = (-5, 1, 9, -8, 0, 5, 2, -3, 8, -6, 10, 3)

RETRYABLE_MODEL_ERRORS = (
    # code, type, message template, retryable, http status, client wait before retry (s)
    ("rate_limit_exceeded", "rate_limit_error",
     "Rate limit reached for {model} on tokens per min (TPM); please try again in {wait:.1f}s",
     True, 429),
    ("timeout", "timeout_error", "Request to {provider} timed out after {latency} ms", True, 504),
    ("overloaded", "overloaded_error", "{provider} is temporarily overloaded", True, 529),
)  # fmt: skip
CONTEXT_ERROR = (
    "context_length_exceeded", "invalid_request_error",
    "This model's maximum context length is {limit} tokens; the request had {tokens} tokens",
    False, 400,
)  # fmt: skip


@dataclass(frozen=True)
class GeneratorConfig:
    """Everything that determines the generated data; equal configs give equal bytes."""

    start: datetime
    end: datetime
    seed: int = 42
    tenants: int = 3
    runs_per_day: float = 1000.0  # average runs started per day, all tenants together
    now: datetime | None = None  # the generation's clock; defaults to `end`
    invalid_rate: float = 0.0  # invalid lines added per valid event
    duplicate_rate: float = 0.0  # byte-identical re-emissions added per valid event
    unknown_model_rate: float = 0.02  # share of model calls genai-prices cannot price
    long_prompt_rate: float = 0.005  # share of model calls above 200k input tokens
    live_runs_per_tenant: int = 2  # runs guaranteed to be still running at `end`
    max_events: int | None = None  # stop after exactly this many lines

    def __post_init__(self) -> None:
        for name in ("start", "end", "now"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                object.__setattr__(self, name, value.replace(tzinfo=UTC))
        if self.end <= self.start:
            raise GeneratorError(f"--end ({self.end}) must be after --start ({self.start})")
        if self.now is not None and self.end > self.now:
            raise GeneratorError(
                f"--end ({self.end}) is after --now ({self.now}); events must not be in the future"
            )
        if self.tenants < 1:
            raise GeneratorError("--tenants must be at least 1")
        if self.runs_per_day < 0:
            raise GeneratorError("--runs-per-day must be >= 0")
        for name in ("invalid_rate", "duplicate_rate", "unknown_model_rate", "long_prompt_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise GeneratorError(f"--{name.replace('_', '-')} must be between 0 and 1")

    @classmethod
    def last_days(cls, days: float, now: datetime, **kwargs: Any) -> GeneratorConfig:
        """A window of `days` ending at `now` (for demos: "the last week")."""
        if days <= 0:
            raise GeneratorError("--days must be > 0")
        return cls(start=now - timedelta(days=days), end=now, now=now, **kwargs)

    def fingerprint(self) -> str:
        """Eight hex digits naming what the events depend on (not the noise or the cap)."""
        noise = {"now", "invalid_rate", "duplicate_rate", "max_events"}
        parts = [f"{f.name}={getattr(self, f.name)!r}" for f in fields(self) if f.name not in noise]
        return hashlib.blake2b("|".join(parts).encode(), digest_size=4).hexdigest()
