"""The simulator: runs, steps, model and tool calls and policy decisions, as timed events."""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from math import exp
from random import Random
from typing import Any

from ingestion.synthetic.world import (
    CATALOG,
    CONTEXT_ERROR,
    DAY_MS,
    EPOCH,
    HOUR_MS,
    HOURLY,
    LONG_CONTEXT,
    RETRYABLE_MODEL_ERRORS,
    STEP_TOKENS,
    TENANT_NAMES,
    TOOL_MEDIAN_MS,
    TZ_OFFSETS,
    UNKNOWN_MODELS,
    WEEKDAY,
    WORKFLOWS,
    GeneratorConfig,
    ModelSpec,
    WorkflowTemplate,
)


def _ms(dt: datetime) -> int:
    return (dt - EPOCH) // timedelta(milliseconds=1)


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
            prefix = (EPOCH + timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M:")
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


class Simulator:
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
        first_day = self.start_ms // DAY_MS
        last_day = self.end_ms // DAY_MS
        live: list[tuple[int, int, bool]] = []
        for idx in range(len(self.world)):
            for _ in range(cfg.live_runs_per_tenant):
                at = max(self.start_ms, self.end_ms - rng.randint(60_000, 1_800_000))
                live.append((at, idx, True))
        for day in range(first_day, last_day + 1):
            day_ms = day * DAY_MS
            weekday = (day + 3) % 7  # 1970-01-01 was a Thursday
            starts = [s for s in live if day_ms <= s[0] < day_ms + DAY_MS]
            for idx, tenant in enumerate(self.world):
                expected = cfg.runs_per_day * tenant.share * WEEKDAY[weekday]
                n = int(expected * rng.uniform(0.9, 1.1) + rng.random())
                cum = tenant.hour_cum
                total = cum[-1]
                for _ in range(n):
                    hour = bisect.bisect_right(cum, rng.random() * total)
                    at = day_ms + hour * HOUR_MS + int(rng.random() * HOUR_MS)
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
        self, sim: Simulator, dep: _Deployment, run_ref: dict, trace_id: str, factor: float
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
            spec = LONG_CONTEXT[rng.randrange(len(LONG_CONTEXT))]
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
                code, etype, template, retryable, status = CONTEXT_ERROR
            else:
                code, etype, template, retryable, status = RETRYABLE_MODEL_ERRORS[
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
