"""Synthetic agent telemetry that looks like production: `agentops-wh generate`.

Every demo, test and benchmark needs realistic events at any scale, reproducibly. The
generator simulates tenants (workspaces, projects, agents, workflows) whose agents start runs
that take steps, call models and tools, hit guardrail policies, fail, retry, get cancelled or
are still running at the end of the window. Each run is one W3C trace: run span -> step spans
-> model call, tool call and policy spans.

Design choices, each for a reason:

- Deterministic: one `random.Random` seeded from `--seed` drives the world and the runs;
  invalid lines and duplicates come from a second, independent stream, so the valid events
  are the same whatever `--invalid-rate` and `--duplicate-rate` are. Ids derive from a hash
  of the options plus counters, so two different generations never share an `event_id`
  (the loader's idempotency key) while the same options always give the same bytes.
- Streaming: runs are simulated in start order and their events merged through a heap
  ordered by time, so the output is time-ordered (runs interleave as they would in a
  producer's stream) and memory holds only the runs in flight, whatever the volume.
- Valid means valid: every event written as valid passes `ingestion.validation.contract.check_line`;
  every invalid line has exactly one defect, whose reason code is `EXPECTED_REASON[kind]`.
- Invalid lines are *extra* lines (a corrupted copy of the event just written, under its own
  id), so the valid stream stays complete: run roll-ups reconcile with their model calls
  whatever the invalid rate, and quarantine still has one example of every defect.

Public API: `GeneratorConfig`, `generate_events` (valid event dicts, time-ordered),
`generate_lines` (serialized lines with their kind), `write_jsonl`, `post_ndjson`.
"""

from __future__ import annotations

import argparse
import bisect
import gzip
import hashlib
import heapq
import math
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime, timedelta
from math import exp
from pathlib import Path
from random import Random
from typing import Any

import orjson

from ingestion.producers.retry_after import parse_retry_after
from ingestion.validation.contract import (
    CACHE_TOKENS_EXCEED_INPUT,
    DEFAULT_MAX_EVENT_BYTES,
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

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAY_MS = 86_400_000
_HOUR_MS = 3_600_000

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

_LONG_CONTEXT = tuple(m for m in CATALOG if m.tiered)

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

_RETRYABLE_MODEL_ERRORS = (
    # code, type, message template, retryable, http status, client wait before retry (s)
    ("rate_limit_exceeded", "rate_limit_error",
     "Rate limit reached for {model} on tokens per min (TPM); please try again in {wait:.1f}s",
     True, 429),
    ("timeout", "timeout_error", "Request to {provider} timed out after {latency} ms", True, 504),
    ("overloaded", "overloaded_error", "{provider} is temporarily overloaded", True, 529),
)  # fmt: skip
_CONTEXT_ERROR = (
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


def _ms(dt: datetime) -> int:
    return (dt - _EPOCH) // timedelta(milliseconds=1)


class _Timestamps:
    """RFC 3339 strings ('Z', milliseconds) from epoch milliseconds, without datetime objects.

    strftime costs microseconds a call; here a timestamp is a dict hit for its minute plus one
    string concatenation with a precomputed "SS.mmmZ" (60,000 strings, built once).
    """

    _SECONDS: list[str] = []

    def __init__(self) -> None:
        if not _Timestamps._SECONDS:
            _Timestamps._SECONDS = [f"{i // 1000:02d}.{i % 1000:03d}Z" for i in range(60_000)]
        self._seconds = _Timestamps._SECONDS
        self._minutes: dict[int, str] = {}

    def __call__(self, ms: int) -> str:
        minute, rem = divmod(ms, 60_000)
        prefix = self._minutes.get(minute)
        if prefix is None:
            if len(self._minutes) > 50_000:  # runs are built in time order: old minutes are done
                self._minutes.clear()
            prefix = (_EPOCH + timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M:")
            self._minutes[minute] = prefix
        return prefix + self._seconds[rem]


@dataclass
class _Deployment:
    """A workflow as one tenant runs it: where it lives and which models it calls."""

    tenant: dict[str, str]
    agent_id: str
    workflow_id: str
    template: WorkflowTemplate
    main: tuple[ModelSpec, str]  # spec and the exact model string this code sends
    strong: tuple[ModelSpec, str]
    reports_cost: bool
    users: tuple[str, ...]


@dataclass
class _Tenant:
    tenant_id: str
    share: float
    hour_cum: list[float]
    deployments: list[_Deployment]
    deployment_cum: list[float]


def _weighted(rng: Random, items: tuple[ModelSpec, ...], weights: list[float]) -> ModelSpec:
    return rng.choices(items, weights=weights, k=1)[0]


def _build_world(rng: Random, config: GeneratorConfig) -> list[_Tenant]:
    """Tenants with workspaces, projects, agents and deployed workflows, drawn from the seed."""
    tenants: list[_Tenant] = []
    main_w = [m.weight for m in CATALOG]
    strong_w = [m.strong_weight for m in CATALOG]
    for i in range(config.tenants):
        name = TENANT_NAMES[i] if i < len(TENANT_NAMES) else f"tenant{i + 1:03d}"
        offset = TZ_OFFSETS[i % len(TZ_OFFSETS)]
        hourly = [HOURLY[(h + offset) % 24] for h in range(24)]  # index: UTC hour
        if rng.random() < 0.4:  # a nightly batch job at 02:00 local time
            hourly[(2 - offset) % 24] += 1.5
        hour_cum = list(_cumulative(hourly))
        n_workflows = rng.randint(4, min(7, len(WORKFLOWS)))
        templates = rng.sample(WORKFLOWS, n_workflows)
        users = tuple(f"usr_{name}_{rng.randint(100, 999)}" for _ in range(4))
        deployments: list[_Deployment] = []
        weights: list[float] = []
        for tpl in templates:
            workspaces = [("prod", 1.0)]
            if rng.random() < 0.35:
                workspaces.append(("staging", 0.08))
            volume = rng.lognormvariate(0.0, 0.9)
            for ws, ws_share in workspaces:
                main = _weighted(rng, CATALOG, main_w)
                strong = _weighted(rng, CATALOG, strong_w)
                deployments.append(
                    _Deployment(
                        tenant={
                            "tenant_id": name,
                            "workspace_id": f"{name}-{ws}",
                            "project_id": f"{name}-{ws}-{tpl.project}",
                        },
                        agent_id=f"{name}-{tpl.agent}",
                        workflow_id=f"{name}-{tpl.name}",
                        template=tpl,
                        main=(main, _model_string(rng, main)),
                        strong=(strong, _model_string(rng, strong)),
                        reports_cost=rng.random() < 0.3,
                        users=users,
                    )
                )
                weights.append(volume * ws_share)
        share = 1.0 / (i + 1) ** 0.8  # a few big tenants, a long tail
        tenants.append(_Tenant(name, share, hour_cum, deployments, list(_cumulative(weights))))
    total = sum(t.share for t in tenants)
    for t in tenants:
        t.share /= total
    return tenants


def _model_string(rng: Random, spec: ModelSpec) -> str:
    # Code either pins a dated snapshot or uses the alias, and keeps doing so.
    if spec.snapshots and rng.random() < 0.35:
        return rng.choice(spec.snapshots)
    return spec.model


def _cumulative(weights: Iterable[float]) -> Iterator[float]:
    total = 0.0
    for w in weights:
        total += w
        yield total


class _Simulator:
    """Simulates runs in start order and hands out their events in time order."""

    def __init__(self, config: GeneratorConfig):
        self.config = config
        self.rng = Random(config.seed)
        self.ts = _Timestamps()
        self.prefix = config.fingerprint()
        self.start_ms = _ms(config.start)
        self.end_ms = _ms(config.end)
        self.world = _build_world(self.rng, config)
        self.heap: list[tuple[int, int, dict[str, Any]]] = []
        self.seq = 0
        self.n_event = self.n_run = self.n_step = self.n_call = self.n_tool = 0
        self.unknown_rate = config.unknown_model_rate
        self.long_rate = config.long_prompt_rate

    # ---- ids ---------------------------------------------------------------------------

    def _event_id(self) -> str:
        self.n_event += 1
        return f"evt_{self.prefix}{self.n_event:010x}"

    def _span(self) -> str:
        # W3C forbids the all-zero id.
        return f"{self.rng.getrandbits(64) or 1:016x}"

    # ---- the stream --------------------------------------------------------------------

    def events(self) -> Iterator[dict[str, Any]]:
        """Every event of the window, in time order."""
        heap = self.heap
        pop = heapq.heappop
        for start_ms, tenant_idx, live in self._run_starts():
            while heap and heap[0][0] <= start_ms:
                yield pop(heap)[2]
            self._run(start_ms, self.world[tenant_idx], live)
        while heap:
            yield pop(heap)[2]

    def _run_starts(self) -> Iterator[tuple[int, int, bool]]:
        """(start ms, tenant index, is_live) of every run, sorted, generated a day at a time."""
        rng = self.rng
        cfg = self.config
        first_day = self.start_ms // _DAY_MS
        last_day = self.end_ms // _DAY_MS
        live: list[tuple[int, int, bool]] = []
        for idx in range(len(self.world)):
            for _ in range(cfg.live_runs_per_tenant):
                at = max(self.start_ms, self.end_ms - rng.randint(60_000, 1_800_000))
                live.append((at, idx, True))
        for day in range(first_day, last_day + 1):
            day_ms = day * _DAY_MS
            weekday = (day + 3) % 7  # 1970-01-01 was a Thursday
            starts = [s for s in live if day_ms <= s[0] < day_ms + _DAY_MS]
            for idx, tenant in enumerate(self.world):
                expected = cfg.runs_per_day * tenant.share * WEEKDAY[weekday]
                n = int(expected * rng.uniform(0.9, 1.1) + rng.random())
                cum = tenant.hour_cum
                total = cum[-1]
                for _ in range(n):
                    hour = bisect.bisect_right(cum, rng.random() * total)
                    at = day_ms + hour * _HOUR_MS + int(rng.random() * _HOUR_MS)
                    if self.start_ms <= at <= self.end_ms:
                        starts.append((at, idx, False))
            starts.sort()
            yield from starts

    # ---- one run -----------------------------------------------------------------------

    def _run(self, start_ms: int, tenant: _Tenant, live: bool) -> None:
        rng = self.rng
        fmt = self.ts
        dep = tenant.deployments[
            bisect.bisect_right(tenant.deployment_cum, rng.random() * tenant.deployment_cum[-1])
        ]
        tpl = dep.template
        factor = tpl.failure_factor
        self.n_run += 1
        run_id = f"run_{self.prefix}{self.n_run:08x}"
        run_ref = {"run_id": run_id, "agent_id": dep.agent_id, "workflow_id": dep.workflow_id}
        trace_id = f"{rng.getrandbits(128) or 1:032x}"
        run_span = self._span()
        ctx = _RunContext(self, dep, run_ref, trace_id, factor)
        started_at = fmt(start_ms)
        ctx.emit(
            start_ms,
            "run.started",
            {**run_ref, "status": "running", "started_at": started_at},
            run_span,
            None,
            {},
        )
        t = start_ms + 2 + int(rng.random() * 39)
        if live:
            # Waiting for a human: the approval arrives hours after the window ends, so the
            # run is still "running now".
            t = ctx.policy(
                t, run_span, "spend-approval", "escalate", hold_ms=(7_200_000, 21_600_000)
            )

        steps = _expand_steps(rng, tpl.steps)
        error: tuple[str, str, str, bool] | None = None
        cancelled = False
        for i, step_type in enumerate(steps):
            t, error = ctx.step(t, run_span, step_type, first=i == 0, last=i == len(steps) - 1)
            if error is not None:
                break
            if i < len(steps) - 1 and rng.random() < 0.006 * factor:
                cancelled = True
                break
            t += 5 + int(rng.random() * 116)

        t += 2 + int(rng.random() * 29)
        end_at = fmt(t)
        run_end = {**run_ref, "started_at": started_at, "ended_at": end_at}
        usage = ctx.rollup()
        if error is not None:
            code, etype, message, _ = error
            run_end["status"] = "failed"
            sections: dict[str, Any] = {
                "resource_usage": usage,
                "error": {"code": code, "message": message, "type": etype, "retryable": False},
            }
            ctx.emit(t, "run.failed", run_end, run_span, None, sections)
        else:
            run_end["status"] = "cancelled" if cancelled else "succeeded"
            sections = {"resource_usage": usage}
            if cancelled:
                sections["attributes"] = {"cancel_reason": rng.choice(_CANCEL_REASONS)}
            ctx.emit(t, "run.completed", run_end, run_span, None, sections)

        push = heapq.heappush
        heap = self.heap
        end_ms = self.end_ms
        for ts, event in ctx.events:
            if ts <= end_ms:  # later events have not happened yet at the window's end
                self.seq += 1
                push(heap, (ts, self.seq, event))


_CANCEL_REASONS = ("user_cancelled", "superseded", "client_disconnected")


def _expand_steps(rng: Random, steps: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    for s in steps:
        if s.endswith("*"):
            out.extend([s[:-1]] * min(8, 1 + int(rng.expovariate(0.6))))
        else:
            out.append(s)
    return out


class _RunContext:
    """Builds one run's events (in time order) and its usage roll-up."""

    __slots__ = (
        "sim", "rng", "dep", "run_ref", "trace_id", "factor", "events", "tokens", "loop",
    )  # fmt: skip

    def __init__(
        self, sim: _Simulator, dep: _Deployment, run_ref: dict, trace_id: str, factor: float
    ):
        self.sim = sim
        self.rng = sim.rng
        self.dep = dep
        self.run_ref = run_ref
        self.trace_id = trace_id
        self.factor = factor
        self.events: list[tuple[int, dict[str, Any]]] = []
        self.tokens = [0, 0, 0, 0, 0]  # input, output, cached, cache_write, reasoning
        self.loop = 0  # agent-loop iteration: context grows with every tool round trip

    def emit(
        self,
        ts: int,
        event_type: str,
        run: dict[str, Any],
        span: str,
        parent: str | None,
        sections: dict[str, Any],
    ) -> None:
        event = {
            "event_version": "0",
            "event_id": self.sim._event_id(),
            "event_type": event_type,
            "occurred_at": self.sim.ts(ts),
            "tenant": self.dep.tenant,
            "run": run,
            "trace": {"trace_id": self.trace_id, "span_id": span, "parent_span_id": parent},
        }
        if sections:
            event.update(sections)
        self.events.append((ts, event))

    def rollup(self) -> dict[str, int]:
        inp, out, cached, written, reasoning = self.tokens
        return {
            "input_tokens": inp,
            "output_tokens": out,
            "cached_tokens": cached,
            "cache_write_tokens": written,
            "reasoning_tokens": reasoning,
            "total_tokens": inp + out,
        }

    # ---- a step and what happens in it ------------------------------------------------

    def step(
        self, t: int, run_span: str, step_type: str, *, first: bool, last: bool
    ) -> tuple[int, tuple[str, str, str, bool] | None]:
        """Emit one step; returns the time it ended and the error that failed it, if any."""
        rng = self.rng
        sim = self.sim
        sim.n_step += 1
        step_id = f"stp_{sim.prefix}{sim.n_step:09x}"
        span = sim._span()
        begin = t
        self.emit(t, "step.started", self.run_ref, span, run_span,
                  {"step": {"step_id": step_id, "step_type": step_type}})  # fmt: skip
        t += 1 + int(rng.random() * 15)
        error = None
        if first and rng.random() < 0.25:
            blocked = rng.random() < 0.03 * self.factor
            t = self.policy(t, span, "prompt-injection-guard", "block" if blocked else "allow")
            if blocked:
                error = _policy_error("prompt-injection-guard", "ignore-previous-instructions")
        elif step_type == "tool_use" and rng.random() < 0.3:
            r = rng.random()
            block_p = 0.04 * self.factor
            decision = "block" if r < block_p else "escalate" if r < block_p + 0.08 else "allow"
            t = self.policy(t, span, "tool-allowlist", decision)
            if decision == "block":
                error = _policy_error("tool-allowlist", "external-side-effects")
        if error is None:
            for action in _actions(rng, step_type):
                if action == "m":
                    t, error = self.model_call(t, span, step_id, step_type)
                else:
                    t, error = self.tool_call(t, span, step_id)
                if error is not None:
                    break
                t += 3 + int(rng.random() * 58)
        if error is None and last and rng.random() < 0.35:
            t = self.policy(t, span, "pii-redaction", "redact" if rng.random() < 0.2 else "allow")
        if step_type == "tool_use":
            self.loop += 1
        latency = t - begin
        if error is None:
            step = {"step_id": step_id, "step_type": step_type, "status": "succeeded",
                    "latency_ms": latency}  # fmt: skip
            self.emit(t, "step.completed", self.run_ref, span, run_span, {"step": step})
        else:
            code, etype, message, retryable = error
            step = {"step_id": step_id, "step_type": step_type, "status": "failed",
                    "latency_ms": latency}  # fmt: skip
            err = {"code": code, "message": message, "type": etype, "retryable": retryable}
            self.emit(t, "step.failed", self.run_ref, span, run_span, {"step": step, "error": err})
        return t, error

    def policy(
        self,
        t: int,
        parent: str,
        policy_id: str,
        decision: str,
        hold_ms: tuple[int, int] | None = None,
    ) -> int:
        """Emit a policy decision; escalations wait for a human before the run goes on."""
        rng = self.rng
        rule, reason, actor_type = _POLICIES[policy_id][decision]
        if actor_type == "user":
            actor_id = rng.choice(self.dep.users)
        elif actor_type == "agent":
            actor_id = self.dep.agent_id
        else:
            actor_id = _POLICY_SERVICE[policy_id]
        t += 2 + int(rng.random() * 39)
        policy = {
            "policy_id": policy_id,
            "decision": decision,
            "rule": rule,
            "reason": reason,
            "actor": {"actor_type": actor_type, "actor_id": actor_id},
        }
        self.emit(t, "policy.decision", self.run_ref, self.sim._span(), parent, {"policy": policy})
        if decision == "escalate":
            lo, hi = hold_ms or (30_000, 1_200_000)
            t += rng.randint(lo, hi)
        return t

    def model_call(
        self, t: int, parent: str, step_id: str, step_type: str
    ) -> tuple[int, tuple[str, str, str, bool] | None]:
        """One logical model call: failed attempts, retried with new ids, until one succeeds."""
        rng = self.rng
        gauss = rng.gauss
        dep = self.dep
        sim = self.sim
        r = rng.random()
        strong_share = 0.6 if step_type in ("plan", "reason") else 0.1
        spec, model = dep.strong if r < strong_share else dep.main
        long_prompt = False
        r = rng.random()
        if r < sim.unknown_rate:
            spec = UNKNOWN_MODELS[int(r / sim.unknown_rate * len(UNKNOWN_MODELS))]
            model = spec.model
        elif rng.random() < sim.long_rate:
            # Whole documents in the prompt: routed to a long-context model priced in tiers.
            spec = _LONG_CONTEXT[rng.randrange(len(_LONG_CONTEXT))]
            model, long_prompt = spec.model, True
        mu_in, mu_out = STEP_TOKENS[step_type]
        if long_prompt:
            inp = min(950_000, 200_001 + int(exp(11.4 + 0.7 * gauss())))
        else:
            inp = min(spec.max_input, 30 + int(exp(mu_in + 0.3 * self.loop + 0.8 * gauss())))
        visible = min(8_000, 1 + int(exp(mu_out + 0.7 * gauss())))
        reasoning = min(16_000, int(exp(6.6 + 0.8 * gauss()))) if spec.reasoning else 0
        out = visible + reasoning
        fail_p = 0.02 * self.factor * (8.0 if long_prompt else 1.0)
        attempt = 1
        while True:
            sim.n_call += 1
            call_id = f"mc_{sim.prefix}{sim.n_call:09x}"
            span = sim._span()
            call = {
                "model_call_id": call_id,
                "provider": spec.provider,
                "model": model,
                "step_id": step_id,
                "latency_ms": 0,
                "request_id": f"{_REQUEST_PREFIX.get(spec.provider, 'req_')}"
                f"{rng.getrandbits(96):024x}",
            }
            attrs: dict[str, Any] | None = {"retry.attempt": attempt} if attempt > 1 else None
            if rng.random() >= fail_p:
                usage, cost = self._usage(spec, inp, out, reasoning, dep.reports_cost)
                latency = int(
                    (spec.ttft_ms + out * spec.ms_per_token + inp * 0.004) * exp(0.3 * gauss())
                )
                t += latency
                call["latency_ms"] = latency
                sections: dict[str, Any] = {"model_call": call, "resource_usage": usage}
                if cost is not None:
                    sections["cost"] = cost
                if attrs:
                    sections["attributes"] = attrs
                self.emit(t, "model_call.completed", self.run_ref, span, parent, sections)
                return t, None
            # A failed attempt.
            if long_prompt and rng.random() < 0.5:
                code, etype, template, retryable, status = _CONTEXT_ERROR
            else:
                code, etype, template, retryable, status = _RETRYABLE_MODEL_ERRORS[
                    rng.randrange(3) if spec.provider == "anthropic" else rng.randrange(2)
                ]
            wait = (
                rng.uniform(0.5, 20.0) if code == "rate_limit_exceeded" else rng.uniform(0.2, 3.0)
            )
            if code == "timeout":
                latency = 60_000
                # The prompt was processed and some output streamed before the cut.
                usage = {"input_tokens": inp, "output_tokens": int(visible * rng.random())}
            else:
                latency = rng.randint(40, 600)
                usage = {"input_tokens": 0, "output_tokens": 0}
            self.tokens[0] += usage["input_tokens"]
            self.tokens[1] += usage["output_tokens"]
            t += latency
            call["latency_ms"] = latency
            message = template.format(
                model=model, wait=wait, provider=spec.provider, latency=latency,
                limit=spec.max_input if not long_prompt else 1_048_576, tokens=inp,
            )  # fmt: skip
            err = {"code": code, "message": message, "type": etype, "retryable": retryable}
            attrs = {**(attrs or {}), "http.status_code": status}
            self.emit(t, "model_call.failed", self.run_ref, span, parent,
                      {"model_call": call, "resource_usage": usage, "error": err,
                       "attributes": attrs})  # fmt: skip
            if not retryable or attempt >= 3:
                return t, (code, etype, message, retryable)
            attempt += 1
            t += int(wait * 1000)
            fail_p = min(0.6, 0.12 * self.factor)  # retries mostly succeed

    def _usage(
        self, spec: ModelSpec, inp: int, out: int, reasoning: int, reports_cost: bool
    ) -> tuple[dict[str, int], dict[str, Any] | None]:
        """Token usage as the provider reports it (input includes cache reads and writes)."""
        rng = self.rng
        cached = written = 0
        cache = spec.cache
        if cache == "prefix":
            # OpenAI caches prompts of 1024+ tokens, in 128-token increments.
            if inp >= 1024 and rng.random() < 0.5:
                cached = max(1024, int(inp * rng.uniform(0.2, 0.95)) // 128 * 128)
        elif cache == "explicit":
            if inp >= 1024:
                r = rng.random()
                if r < 0.05:  # read the cached prefix, write the extension
                    cached = int(inp * 0.5)
                    written = int(inp * rng.uniform(0.1, 0.4))
                elif r < 0.2:
                    written = int(inp * rng.uniform(0.3, 0.9))
                elif r < 0.65:
                    cached = int(inp * rng.uniform(0.3, 0.95))
        elif cache == "implicit" and inp >= 2048 and rng.random() < 0.35:
            cached = int(inp * rng.uniform(0.2, 0.9))
        usage: dict[str, int] = {"input_tokens": inp, "output_tokens": out}
        provider = spec.provider
        if provider == "openai" or provider == "azure":
            usage["cached_tokens"] = cached
            usage["reasoning_tokens"] = reasoning
        elif provider == "anthropic":
            usage["cached_tokens"] = cached
            usage["cache_write_tokens"] = written
        else:
            if cached:
                usage["cached_tokens"] = cached
            if reasoning:
                usage["reasoning_tokens"] = reasoning
        if spec.sends_total:
            usage["total_tokens"] = inp + out
        tok = self.tokens
        tok[0] += inp
        tok[1] += out
        tok[2] += cached
        tok[3] += written
        tok[4] += reasoning
        cost = None
        if reports_cost and spec.rates[0]:
            r_in, r_read, r_write, r_out = spec.rates
            usd = ((inp - cached - written) * r_in + cached * r_read + written * r_write
                   + out * r_out) / 1e6  # fmt: skip
            cost = {"cost_usd": round(usd, 10), "currency": "USD"}
        return usage, cost

    def tool_call(
        self, t: int, parent: str, step_id: str
    ) -> tuple[int, tuple[str, str, str, bool] | None]:
        """One tool invocation, retried once on failure; the agent tolerates some failures."""
        rng = self.rng
        sim = self.sim
        tools = self.dep.template.tools
        tool = tools[int(rng.random() * len(tools))]
        fail_p = 0.04 * self.factor
        for attempt in (1, 2):
            sim.n_tool += 1
            call = {
                "tool_call_id": f"tc_{sim.prefix}{sim.n_tool:09x}",
                "tool_name": tool,
                "step_id": step_id,
                "latency_ms": 0,
            }
            span = sim._span()
            if rng.random() >= fail_p:
                latency = int(TOOL_MEDIAN_MS[tool] * exp(0.6 * rng.gauss()))
                t += latency
                call["latency_ms"] = latency
                sections: dict[str, Any] = {"tool_call": call}
                if attempt > 1:
                    sections["attributes"] = {"retry.attempt": attempt}
                self.emit(t, "tool_call.completed", self.run_ref, span, parent, sections)
                return t, None
            if rng.random() < 0.75:
                status = rng.choice((500, 502, 503, 404))
                code, etype, retryable = "tool_error", "tool_execution_error", status != 404
                message = f"{tool} failed: upstream returned HTTP {status}"
                latency = int(TOOL_MEDIAN_MS[tool] * rng.uniform(0.1, 1.0))
            else:
                code, etype, retryable = "timeout", "timeout_error", True
                latency = 30_000
                message = f"{tool} did not answer within {latency} ms"
            t += latency
            call["latency_ms"] = latency
            err = {"code": code, "message": message, "type": etype, "retryable": retryable}
            self.emit(t, "tool_call.failed", self.run_ref, span, parent,
                      {"tool_call": call, "error": err})  # fmt: skip
            if not retryable or rng.random() < 0.5:
                break
            t += rng.randint(200, 2_000)
            fail_p = min(0.6, 0.25 * self.factor)
        # Agents work around half of the tools that let them down; the rest fail the step.
        if rng.random() < 0.5:
            return t, None
        return t, (code, etype, message, retryable)


_REQUEST_PREFIX = {
    "openai": "chatcmpl-",
    "anthropic": "msg_",
    "google": "gen-",
    "azure": "chatcmpl-",
}
# policy -> decision -> (rule, reason, actor type)
_POLICIES: dict[str, dict[str, tuple[str, str, str]]] = {
    "prompt-injection-guard": {
        "allow": ("ignore-previous-instructions", "no injection pattern found", "service"),
        "block": ("ignore-previous-instructions", "prompt tries to override system instructions",
                  "service"),
    },
    "pii-redaction": {
        "allow": ("personal-data", "no personal data in the answer", "service"),
        "redact": ("personal-data", "phone number and postal address removed from the answer",
                   "service"),
    },
    "spend-approval": {
        "escalate": ("run-cost-over-limit", "estimated run cost above the approval limit", "user"),
    },
    "tool-allowlist": {
        "allow": ("external-side-effects", "tool is on the agent's allowlist", "agent"),
        "escalate": ("external-side-effects", "tool has external side effects; needs approval",
                     "user"),
        "block": ("external-side-effects", "tool is not on the agent's allowlist", "agent"),
    },
}  # fmt: skip
_POLICY_SERVICE = {"prompt-injection-guard": "guardrail-svc", "pii-redaction": "dlp-scanner"}


def _policy_error(policy_id: str, rule: str) -> tuple[str, str, str, bool]:
    return ("policy_blocked", "policy_violation", f"blocked by policy {policy_id} (rule {rule})",
            False)  # fmt: skip


def _actions(rng: Random, step_type: str) -> list[str]:
    """What a step does, in order: 'm' a model call, 't' a tool call."""
    if step_type == "tool_use":
        return ["m", "t"]
    if step_type == "retrieve":
        return ["t", "m"] if rng.random() < 0.5 else ["t"]
    if step_type == "validate":
        return ["t", "m"]
    if step_type == "reason":
        return ["m"] * (1 + int(rng.random() * 3))
    if step_type == "summarize":
        return ["m", "m"] if rng.random() < 0.3 else ["m"]
    return ["m"]


# --------------------------------------------------------------------------------------------
# Public API


def generate_events(config: GeneratorConfig) -> Iterator[dict[str, Any]]:
    """Every valid event of the configured window, in time order (streamed, not listed)."""
    return _Simulator(config).events()


def generate_lines(config: GeneratorConfig) -> Iterator[tuple[bytes, str]]:
    """Serialized lines (no newline) with their kind: VALID, DUPLICATE or a defect name.

    Each valid event may be followed by one invalid line (a corrupted copy under its own id;
    defects cycle through DEFECTS) and one exact re-emission of a recent valid line.
    """
    noise = Random(f"{config.seed}:noise")
    invalid_rate, duplicate_rate = config.invalid_rate, config.duplicate_rate
    limit = config.max_events if config.max_events is not None else math.inf
    recent: deque[bytes] = deque(maxlen=256)  # a producer retries what it sent lately
    dumps = orjson.dumps
    n = 0
    n_invalid = 0
    if limit <= 0:
        return
    for event in generate_events(config):
        line = dumps(event)
        yield line, VALID
        n += 1
        if n >= limit:
            return
        if invalid_rate and noise.random() < invalid_rate:
            kind = DEFECTS[n_invalid % len(DEFECTS)]
            n_invalid += 1
            yield corrupt(event, kind), kind
            n += 1
            if n >= limit:
                return
        recent.append(line)
        if duplicate_rate and noise.random() < duplicate_rate:
            yield recent[noise.randrange(len(recent))], DUPLICATE
            n += 1
            if n >= limit:
                return


_PAGE_TEXT = (
    "Quarterly revenue grew in every region, led by the enterprise segment; churn fell to its "
    "lowest level in two years while support tickets per customer kept declining. "
)


def corrupt(event: dict[str, Any], kind: str, max_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> bytes:
    """One line holding `event` with exactly one defect of `kind` (see EXPECTED_REASON)."""
    bad = dict(event)
    bad["event_id"] = f"{event['event_id']}-x"  # never collides with the valid copy's key
    if kind == "missing_field":
        del bad["occurred_at"]
    elif kind == "unknown_field":
        bad["user_id"] = "usr_123"  # belongs under /attributes
    elif kind == "bad_trace_id":
        bad["trace"] = {**event["trace"], "trace_id": event["trace"]["trace_id"][:16]}
    elif kind == "naive_timestamp":
        bad["occurred_at"] = event["occurred_at"].rstrip("Z")
    elif kind in ("cache_tokens_exceed_input", "total_tokens_mismatch"):
        usage = dict(event.get("resource_usage") or {"input_tokens": 1200, "output_tokens": 80})
        usage.pop("total_tokens", None)
        if kind == "cache_tokens_exceed_input":
            usage["cached_tokens"] = usage["input_tokens"] + 1  # input must include cache reads
        else:
            usage["total_tokens"] = usage["input_tokens"] + usage["output_tokens"] + 7
        bad["resource_usage"] = usage
    elif kind in ("nan", "invalid_utf8"):
        bad["attributes"] = {**event.get("attributes", {}), "note": "\x00PLACEHOLDER\x00"}
        raw = orjson.dumps(bad)
        marker = b'"\\u0000PLACEHOLDER\\u0000"'
        return raw.replace(marker, b"NaN" if kind == "nan" else b'"caf\xe9"')
    elif kind == "duplicate_key":
        return b'{"event_version":"0",' + orjson.dumps(bad)[1:]
    elif kind == "invalid_json":
        return orjson.dumps(bad)[:-1]  # a truncated write: the closing brace is missing
    elif kind == "oversized":
        # A whole scraped page pasted into the event: text, as oversized payloads usually are.
        page = _PAGE_TEXT * (max_bytes // len(_PAGE_TEXT) + 1)
        bad["attributes"] = {**event.get("attributes", {}), "tool_output": page}
    else:
        raise ValueError(f"unknown defect {kind!r}; expected one of {', '.join(DEFECTS)}")
    return orjson.dumps(bad)


@dataclass
class GenerationSummary:
    """What a generation wrote: lines by kind, and where."""

    events: int = 0  # lines written, invalid and duplicates included
    valid: int = 0
    invalid: int = 0
    duplicates: int = 0
    by_defect: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    bytes: int = 0
    posted_batches: int = 0
    seconds: float = 0.0

    def count(self, kind: str, size: int) -> None:
        self.events += 1
        self.bytes += size + 1
        if kind == VALID:
            self.valid += 1
        elif kind == DUPLICATE:
            self.duplicates += 1
        else:
            self.invalid += 1
            self.by_defect[kind] = self.by_defect.get(kind, 0) + 1

    def add(self, valid: int, others: dict[str, int], nbytes: int) -> None:
        """Add counts gathered in a hot loop (valid lines, other kinds, bytes with newlines)."""
        self.valid += valid
        self.events += valid + sum(others.values())
        self.bytes += nbytes
        for kind, n in others.items():
            if kind == DUPLICATE:
                self.duplicates += n
            else:
                self.invalid += n
                self.by_defect[kind] = self.by_defect.get(kind, 0) + n

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["events_per_s"] = round(self.events / self.seconds) if self.seconds else None
        return out

    def line(self) -> str:
        if self.files:
            where = f"into {len(self.files)} file(s)"
        elif self.posted_batches:
            where = f"in {self.posted_batches} POSTed batch(es)"
        else:
            where = "to stdout"
        return (
            f"generated {self.events:,} events ({self.valid:,} valid, {self.invalid:,} invalid, "
            f"{self.duplicates:,} duplicates) {where} in {self.seconds:.2f}s"
            + (f" ({self.events / self.seconds:,.0f} events/s)" if self.seconds else "")
        )


def _is_single_file(out: Path) -> bool:
    return out.name.endswith((".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz"))


def write_jsonl(
    lines: Iterable[tuple[bytes, str]],
    out: Path | str,
    *,
    events_per_file: int = 100_000,
    gzip_output: bool = False,
    file_stem: str = "events",
    summary: GenerationSummary | None = None,
) -> GenerationSummary:
    """Write lines as JSONL to a file, or to a folder in files of `events_per_file` lines.

    `out` is a single file when its name ends in .jsonl, .ndjson (or those plus .gz), else a
    folder (created). Files appear under their final name only when complete (written as
    `.part`, then renamed), so a loader watching the folder never reads half a file. Gzip
    output has no timestamp in its header, so it is byte-identical for the same input too.
    """
    summary = summary or GenerationSummary()
    out = Path(out)
    single = _is_single_file(out)
    if single:
        if gzip_output and not out.name.endswith(".gz"):
            out = out.with_name(out.name + ".gz")
        gzip_output = gzip_output or out.name.endswith(".gz")
        out.parent.mkdir(parents=True, exist_ok=True)
    else:
        if events_per_file < 1:
            raise GeneratorError("--events-per-file must be at least 1")
        out.mkdir(parents=True, exist_ok=True)
    suffix = ".jsonl.gz" if gzip_output else ".jsonl"
    file_no = 0
    target: Path | None = None
    fh: Any = None
    buf: list[bytes] = []
    in_file = 0

    def open_next() -> None:
        nonlocal target, fh, file_no, in_file
        target = out if single else out / f"{file_stem}-{file_no:05d}{suffix}"
        file_no += 1
        in_file = 0
        part = target.with_name(target.name + ".part")
        raw = open(part, "wb")  # noqa: SIM115 - closed in close_current
        # mtime=0 and no file name keep gzip output reproducible.
        fh = (
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6)
            if (gzip_output)
            else raw
        )

    def close_current() -> None:
        nonlocal fh
        if fh is None or target is None:
            return
        if buf:
            fh.write(b"".join(buf))
            buf.clear()
        if gzip_output:
            inner = fh.fileobj
            fh.close()
            inner.close()
        else:
            fh.close()
        os.replace(target.with_name(target.name + ".part"), target)
        summary.files.append(str(target))
        fh = None

    # Counted in locals and added once: this loop runs once per line.
    n_valid = 0
    others: dict[str, int] = {}
    nbytes = 0
    append = buf.append
    try:
        for line, kind in lines:
            if fh is None or (not single and in_file >= events_per_file):
                close_current()
                open_next()
            append(line)
            append(b"\n")
            in_file += 1
            nbytes += len(line) + 1
            if kind == VALID:
                n_valid += 1
            else:
                others[kind] = others.get(kind, 0) + 1
            if len(buf) >= 4096:
                fh.write(b"".join(buf))
                buf.clear()
        if fh is None and single:
            open_next()  # an empty window still produces the file asked for
        close_current()
    except BaseException:
        if fh is not None and target is not None:
            fh.close()
            target.with_name(target.name + ".part").unlink(missing_ok=True)
        raise
    finally:
        summary.add(n_valid, others, nbytes)
    return summary


def post_ndjson(
    lines: Iterable[tuple[bytes, str]],
    url: str,
    token: str,
    *,
    batch_size: int = 500,
    max_retries: int = 8,
    max_wait: float = 60.0,
    client: Any = None,
    sleep: Callable[[float], None] = time.sleep,
    summary: GenerationSummary | None = None,
) -> GenerationSummary:
    """Send lines to the HTTP loader in NDJSON batches, retrying 429/503 as Retry-After says.

    Connection errors are retried with exponential backoff too; any other non-2xx answer stops
    the generation with the server's message, since resending would not help.
    """
    import httpx

    summary = summary or GenerationSummary()
    own_client = client is None
    client = client or httpx.Client(timeout=30.0)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"}

    def send(batch: list[bytes]) -> None:
        body = b"\n".join(batch) + b"\n"
        for attempt in range(max_retries + 1):
            backoff = min(max_wait, 0.5 * 2**attempt)
            try:
                # partial=true: the invalid lines a test asks for are quarantined by the
                # loader while the valid ones in the same batch are kept.
                resp = client.post(url, content=body, headers=headers, params={"partial": "true"})
            except httpx.TransportError as exc:
                if attempt == max_retries:
                    raise GeneratorError(
                        f"POST {url} failed after {attempt + 1} attempts: {exc}; "
                        "is `agentops-wh serve` running there?"
                    ) from exc
                sleep(backoff)
                continue
            if resp.status_code in (429, 503) and attempt < max_retries:
                wait = parse_retry_after(resp.headers.get("Retry-After"))
                sleep(min(max_wait, backoff if wait is None else wait))
                continue
            if resp.status_code >= 300:
                raise GeneratorError(
                    f"POST {url} answered {resp.status_code}: {resp.text[:500]}"
                    + ("; check --token" if resp.status_code in (401, 403) else "")
                )
            summary.posted_batches += 1
            return

    try:
        batch: list[bytes] = []
        for line, kind in lines:
            batch.append(line)
            summary.count(kind, len(line))
            if len(batch) >= batch_size:
                send(batch)
                batch = []
        if batch:
            send(batch)
    finally:
        if own_client:
            client.close()
    return summary


# --------------------------------------------------------------------------------------------
# Command line


def _parse_time(value: str) -> datetime:
    """An RFC 3339 date-time or a date; naive values are taken as UTC."""
    try:
        dt = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a date or date-time; use e.g. 2026-11-01 or 2026-11-01T12:00:00Z"
        ) from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def config_from_args(
    args: argparse.Namespace, wall_clock: datetime | None = None
) -> GeneratorConfig:
    """The GeneratorConfig the `generate` options describe."""
    if (args.start is None) != (args.end is None):
        raise GeneratorError("--start and --end go together")
    if args.start is not None and args.days is not None:
        raise GeneratorError("use either --days or --start/--end, not both")
    common: dict[str, Any] = {
        "seed": args.seed,
        "tenants": args.tenants,
        "invalid_rate": args.invalid_rate,
        "duplicate_rate": args.duplicate_rate,
        "unknown_model_rate": args.unknown_model_rate,
        "max_events": args.events,
    }
    runs_per_day = args.runs_per_day
    if args.start is not None:
        days = (args.end - args.start) / timedelta(days=1)
    else:
        days = 7.0 if args.days is None else args.days
    if runs_per_day is None:
        runs_per_day = 1000.0
        if args.events is not None and days > 0:
            # A little more traffic than needed, so the cap (not the window) ends the stream.
            runs_per_day = args.events / (days * EVENTS_PER_RUN) * 1.05
    common["runs_per_day"] = runs_per_day
    if args.start is not None:
        return GeneratorConfig(start=args.start, end=args.end, now=args.now or args.end, **common)
    # Only a relative window reads the clock, and only when --now is not given.
    now = args.now or wall_clock or datetime.now(UTC)
    return GeneratorConfig.last_days(days, now, **common)


def _cmd_generate(args: argparse.Namespace) -> int:
    try:
        config = config_from_args(args)
        if args.out is None and args.post is None:
            raise GeneratorError("say where the events go: --out FILE|DIR|- or --post URL")
        if args.post is not None and not args.token:
            raise GeneratorError("--post needs --token (or $AGENTOPS_TOKEN)")
        if args.json and args.out == "-":
            raise GeneratorError("--json and --out - both use stdout; pick one")
        began = time.perf_counter()
        lines = generate_lines(config)
        if args.post is not None:
            summary = post_ndjson(lines, args.post, args.token, batch_size=args.batch_size)
        elif args.out == "-":
            summary = GenerationSummary()
            stdout = sys.stdout.buffer
            try:
                for line, kind in lines:
                    stdout.write(line + b"\n")
                    summary.count(kind, len(line))
                stdout.flush()
            except BrokenPipeError:
                # The reader (`| head`) has what it wants: stop quietly, as Unix tools do.
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        else:
            summary = write_jsonl(
                lines,
                Path(args.out),
                events_per_file=args.events_per_file,
                gzip_output=args.gzip,
                file_stem=f"events-{config.fingerprint()}",
            )
        summary.seconds = round(time.perf_counter() - began, 3)
    except GeneratorError as exc:
        print(f"agentops-wh generate: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(orjson.dumps(summary.as_dict()).decode())
    else:
        print(summary.line(), file=sys.stderr)
    return 0


def _rate(value: str) -> float:
    try:
        rate = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not 0.0 <= rate <= 1.0:
        raise argparse.ArgumentTypeError(f"{value} is not a rate between 0 and 1")
    return rate


def register(sub: Any) -> None:
    """Add the `generate` subcommand to the `agentops-wh` parser."""
    p = sub.add_parser(
        "generate",
        help="synthetic multi-tenant agent telemetry, deterministic for a --seed",
        description="Generate realistic agent events (runs, steps, model and tool calls, "
        "policy decisions, failures and retries) as JSONL, or POST them to the HTTP loader. "
        "The same options give byte-identical output.",
    )
    p.add_argument("--seed", type=int, default=42, help="random seed (default: %(default)s)")
    p.add_argument("--tenants", type=int, default=3, help="number of tenants (default: 3)")
    p.add_argument("--days", type=float, help="window of N days ending at --now (default: 7)")
    p.add_argument("--start", type=_parse_time, help="absolute window start (with --end)")
    p.add_argument("--end", type=_parse_time, help="absolute window end (with --start)")
    p.add_argument(
        "--now",
        type=_parse_time,
        help="the generation's clock: no event is later (default: --end, else the current time)",
    )
    p.add_argument(
        "--runs-per-day",
        type=float,
        help="average runs started per day, all tenants together (default: 1000)",
    )
    p.add_argument(
        "--events",
        type=int,
        help="stop after exactly N lines; sizes --runs-per-day to match unless it is given",
    )
    p.add_argument("--invalid-rate", type=_rate, default=0.0, help="invalid lines per event")
    p.add_argument("--duplicate-rate", type=_rate, default=0.0, help="exact re-sends per event")
    p.add_argument(
        "--unknown-model-rate",
        type=_rate,
        default=0.02,
        help="share of model calls to models genai-prices does not know (default: %(default)s)",
    )
    p.add_argument(
        "--out",
        metavar="FILE|DIR",
        help="a .jsonl/.ndjson file (optionally .gz), '-' for stdout, or a folder",
    )
    p.add_argument(
        "--events-per-file",
        type=int,
        default=100_000,
        help="lines per file when --out is a folder (default: %(default)s)",
    )
    p.add_argument("--gzip", action="store_true", help="gzip the output files")
    p.add_argument("--post", metavar="URL", help="POST NDJSON batches, e.g. to /v1/events")
    p.add_argument("--token", default=os.environ.get("AGENTOPS_TOKEN"), help="bearer token")
    p.add_argument("--batch-size", type=int, default=500, help="lines per POST (default: 500)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    p.set_defaults(func=_cmd_generate)
