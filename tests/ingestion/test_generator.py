"""Tests of the synthetic event generator: valid, realistic, reproducible, and fast to load."""

from __future__ import annotations

import gzip
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from genai_prices import Usage, calc_price

from ingestion.synthetic import generator as gen
from ingestion.synthetic.generator import generate_events, generate_lines, write_jsonl
from ingestion.synthetic.world import (
    CATALOG,
    DEFECTS,
    DUPLICATE,
    EXPECTED_REASON,
    UNKNOWN_MODELS,
    VALID,
    GeneratorConfig,
)
from ingestion.validation.contract import Rejection, ValidEvent, check_line
from orchestration.cli import main as cli_main

START = datetime(2026, 10, 5, tzinfo=UTC)  # a Monday
END = datetime(2026, 10, 12, tzinfo=UTC)
TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX16 = re.compile(r"^[0-9a-f]{16}$")


def _config(**overrides: Any) -> GeneratorConfig:
    base: dict[str, Any] = {"start": START, "end": END, "seed": 7, "runs_per_day": 200}
    base.update(overrides)
    return GeneratorConfig(**base)


@pytest.fixture(scope="module")
def week() -> list[dict[str, Any]]:
    """About 20k valid events over one week, the data most tests look at."""
    return list(generate_events(_config()))


@pytest.fixture(scope="module")
def noisy(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[tuple[bytes, str]], Path]:
    """About 20k lines with invalid lines and duplicates, and the file they were written to."""
    lines = list(generate_lines(_config(invalid_rate=0.03, duplicate_rate=0.02)))
    path = tmp_path_factory.mktemp("noisy") / "events.jsonl"
    write_jsonl(lines, path)
    return lines, path


# ---- reproducibility -------------------------------------------------------------------


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    args = ["generate", "--start", "2026-10-05", "--end", "2026-10-06", "--runs-per-day", "300"]
    args += ["--invalid-rate", "0.02", "--duplicate-rate", "0.02", "--events-per-file", "1000"]
    for name, seed in (("a", "1"), ("b", "1"), ("c", "2")):
        assert cli_main([*args, "--seed", seed, "--gzip", "--out", str(tmp_path / name)]) == 0

    def contents(name: str) -> list[tuple[str, bytes]]:
        return [(p.name, p.read_bytes()) for p in sorted((tmp_path / name).iterdir())]

    a, b, c = contents("a"), contents("b"), contents("c")
    assert len(a) > 3
    assert all(name.endswith(".jsonl.gz") for name, _ in a)
    assert a == b
    assert [data for _, data in a] != [data for _, data in c]
    first = gzip.decompress(a[0][1]).splitlines()
    assert len(first) == 1000


def test_valid_events_do_not_depend_on_noise_options() -> None:
    quiet = [line for line, _ in generate_lines(_config(end=START + timedelta(days=1)))]
    noisy = generate_lines(
        _config(end=START + timedelta(days=1), invalid_rate=0.1, duplicate_rate=0.1)
    )
    assert [line for line, kind in noisy if kind == VALID] == quiet


def test_event_ids_differ_between_windows() -> None:
    """Two generations with one seed but other windows must not share idempotency keys."""
    one = {e["event_id"] for e in generate_events(_config(end=START + timedelta(hours=6)))}
    other = {e["event_id"] for e in generate_events(_config(end=START + timedelta(hours=7)))}
    assert one and other
    assert not one & other


# ---- validity --------------------------------------------------------------------------


def test_every_valid_line_passes_the_contract_and_every_defect_has_its_reason(
    noisy: tuple[list[tuple[bytes, str]], Path],
) -> None:
    lines, path = noisy
    on_disk = path.read_bytes().split(b"\n")
    assert on_disk[-1] == b""
    assert on_disk[:-1] == [line for line, _ in lines]

    reasons: Counter[tuple[str, str]] = Counter()
    for raw, kind in lines:
        result = check_line(raw, END)
        if kind in (VALID, DUPLICATE):
            assert isinstance(result, ValidEvent), (kind, result, raw[:300])
        else:
            assert isinstance(result, Rejection), (kind, raw[:300])
            reasons[(kind, result.reason_code)] += 1

    kinds = Counter(kind for _, kind in lines)
    n_invalid = sum(n for kind, n in kinds.items() if kind not in (VALID, DUPLICATE))
    assert kinds[VALID] > 15_000
    assert 0.02 < n_invalid / kinds[VALID] < 0.04
    # Defects cycle, so each kind's count is known exactly, and each got its own reason code.
    for i, kind in enumerate(DEFECTS):
        expected = n_invalid // len(DEFECTS) + (1 if i < n_invalid % len(DEFECTS) else 0)
        assert kinds[kind] == expected
        assert reasons[(kind, EXPECTED_REASON[kind])] == expected
    assert sum(reasons.values()) == n_invalid


@pytest.mark.parametrize("kind", DEFECTS)
def test_each_defect_alone(kind: str, week: list[dict[str, Any]]) -> None:
    for event in (week[0], next(e for e in week if "resource_usage" in e)):
        result = check_line(gen.corrupt(event, kind), END)
        assert isinstance(result, Rejection)
        assert result.reason_code == EXPECTED_REASON[kind]


def test_duplicates_are_byte_identical_re_sends(
    noisy: tuple[list[tuple[bytes, str]], Path],
) -> None:
    lines, _ = noisy
    sent: set[bytes] = set()
    n_dup = 0
    for raw, kind in lines:
        if kind == VALID:
            sent.add(raw)
        elif kind == DUPLICATE:
            assert raw in sent
            n_dup += 1
    assert n_dup > 200
    ids = Counter(
        orjson.loads(raw)["event_id"] for raw, kind in lines if kind in (VALID, DUPLICATE)
    )
    assert sum(n - 1 for n in ids.values()) == n_dup  # valid events never share an id


def test_envelope_ids_and_timestamps(week: list[dict[str, Any]]) -> None:
    now = END
    last = ""
    for e in week:
        assert TS_RE.match(e["occurred_at"]), e["occurred_at"]
        assert e["occurred_at"] >= last  # one stream, in time order
        last = e["occurred_at"]
        assert HEX32.match(e["trace"]["trace_id"])
        assert HEX16.match(e["trace"]["span_id"])
        for key in ("started_at", "ended_at"):
            if key in e["run"]:
                assert TS_RE.match(e["run"][key])
    assert datetime.fromisoformat(last) <= now
    assert datetime.fromisoformat(week[0]["occurred_at"]) >= START
    assert len({e["event_id"] for e in week}) == len(week)


# ---- structure -------------------------------------------------------------------------


def test_span_tree_is_well_formed(week: list[dict[str, Any]]) -> None:
    spans: dict[str, dict[str, str]] = defaultdict(dict)  # trace -> span -> event_type
    runs_of_trace: dict[str, set[str]] = defaultdict(set)
    for e in week:
        trace = e["trace"]
        spans[trace["trace_id"]].setdefault(trace["span_id"], e["event_type"])
        runs_of_trace[trace["trace_id"]].add(e["run"]["run_id"])
    assert all(len(runs) == 1 for runs in runs_of_trace.values())  # one trace per run
    roots = Counter()
    for e in week:
        trace = e["trace"]
        parent = trace["parent_span_id"]
        kind = e["event_type"].split(".")[0]
        if kind == "run":
            assert parent is None
            roots[trace["trace_id"]] += e["event_type"] == "run.started"
            continue
        assert parent in spans[trace["trace_id"]], e
        parent_kind = spans[trace["trace_id"]][parent].split(".")[0]
        if kind == "step":
            assert parent_kind == "run"
        elif kind in ("model_call", "tool_call"):
            assert parent_kind == "step"
            assert e[kind]["step_id"]
        else:
            assert kind == "policy" and parent_kind in ("run", "step")
    assert set(roots.values()) == {1}
    assert len(roots) == len(spans)


def test_run_rollup_is_the_sum_of_its_model_calls(week: list[dict[str, Any]]) -> None:
    keys = ("input_tokens", "output_tokens", "cached_tokens", "cache_write_tokens")
    keys += ("reasoning_tokens",)
    sums: dict[str, Counter[str]] = defaultdict(Counter)
    ended = []
    for e in week:
        if e["event_type"].startswith("model_call."):
            for k in keys:
                sums[e["run"]["run_id"]][k] += e["resource_usage"].get(k, 0)
        elif e["event_type"] in ("run.completed", "run.failed"):
            ended.append(e)
    assert len(ended) > 1000
    for e in ended:
        usage = e["resource_usage"]
        assert {k: usage[k] for k in keys} == {k: sums[e["run"]["run_id"]][k] for k in keys}
        assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
        assert e["run"]["ended_at"] >= e["run"]["started_at"]


def test_run_outcomes_failures_and_retries(week: list[dict[str, Any]]) -> None:
    types = Counter(e["event_type"] for e in week)
    statuses = Counter(e["run"]["status"] for e in week if e["event_type"].startswith("run.") and
                       e["event_type"] != "run.started")  # fmt: skip
    assert statuses["succeeded"] > statuses["failed"] > 0
    assert statuses["cancelled"] > 0
    started = {e["run"]["run_id"] for e in week if e["event_type"] == "run.started"}
    ended = {e["run"]["run_id"] for e in week if e["event_type"] in ("run.completed", "run.failed")}
    assert ended <= started
    assert len(started - ended) >= 3 * 2  # tenants x live runs: "what is running now"
    assert types["policy.decision"] > 0
    decisions = Counter(
        e["policy"]["decision"] for e in week if e["event_type"] == "policy.decision"
    )
    assert set(decisions) == {"allow", "block", "escalate", "redact"}

    codes = Counter(e["error"]["code"] for e in week if e["event_type"].endswith(".failed"))
    for code in ("rate_limit_exceeded", "timeout", "tool_error", "policy_blocked"):
        assert codes[code] > 0, code
    run_codes = Counter(e["error"]["code"] for e in week if e["event_type"] == "run.failed")
    assert run_codes["policy_blocked"] > 0
    for e in week:
        if e["event_type"].endswith(".failed"):
            assert e["error"]["message"] and e["error"]["type"]

    # A failed retryable call is followed, in its step, by a retry with a new id that succeeds.
    by_step: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in week:
        if e["event_type"].startswith("model_call."):
            by_step[e["model_call"]["step_id"]].append(e)
    recovered = 0
    for calls in by_step.values():
        for first, second in zip(calls, calls[1:], strict=False):
            if first["event_type"] == "model_call.failed" and first["error"]["retryable"]:
                assert second["model_call"]["model_call_id"] != first["model_call"]["model_call_id"]
                assert second["attributes"]["retry.attempt"] >= 2
                recovered += second["event_type"] == "model_call.completed"
    assert recovered > 20


def test_failure_rate_differs_by_workflow() -> None:
    events = generate_events(_config(tenants=6, runs_per_day=600, end=START + timedelta(days=3)))
    ended: dict[str, Counter[str]] = defaultdict(Counter)
    for e in events:
        if e["event_type"] in ("run.completed", "run.failed"):
            workflow = e["run"]["workflow_id"].split("-", 1)[1]  # without the tenant
            ended[workflow][e["run"]["status"]] += 1
    rate = {w: c["failed"] / sum(c.values()) for w, c in ended.items() if sum(c.values()) > 200}
    assert len(rate) >= 4
    assert max(rate.values()) > 3 * min(rate.values())
    if "web-research" in rate and "invoice-extraction" in rate:
        assert rate["web-research"] > rate["invoice-extraction"]


def test_daily_and_weekly_cycles(week: list[dict[str, Any]]) -> None:
    per_day: Counter[int] = Counter()
    per_hour: Counter[int] = Counter()
    for e in week:
        if e["event_type"] == "run.started":
            at = datetime.fromisoformat(e["occurred_at"])
            per_day[at.weekday()] += 1
            per_hour[at.hour] += 1
    weekday_mean = sum(per_day[d] for d in range(5)) / 5
    weekend_mean = (per_day[5] + per_day[6]) / 2
    assert weekend_mean < 0.5 * weekday_mean
    assert max(per_hour.values()) > 3 * min(per_hour.values())


# ---- models, tokens, prices ------------------------------------------------------------


def test_models_resolve_in_genai_prices_except_the_unknown_ones(
    week: list[dict[str, Any]],
) -> None:
    pairs: Counter[tuple[str, str]] = Counter()
    for e in week:
        if e["event_type"].startswith("model_call."):
            pairs[(e["model_call"]["provider"], e["model_call"]["model"])] += 1
    unknown = {(m.provider, m.model) for m in UNKNOWN_MODELS}
    at = START
    for provider, model in pairs:
        usage = Usage(input_tokens=1000, output_tokens=100)
        if (provider, model) in unknown:
            with pytest.raises(LookupError):
                calc_price(usage, model_ref=model, provider_id=provider, genai_request_timestamp=at)
        else:
            calc_price(usage, model_ref=model, provider_id=provider, genai_request_timestamp=at)
    total = sum(pairs.values())
    unpriced = sum(n for pair, n in pairs.items() if pair in unknown)
    assert 0.01 < unpriced / total < 0.035
    assert any(re.search(r"-20\d\d-?\d\d-?\d\d$", model) for _, model in pairs)  # snapshots
    cheap = pairs[("openai", "gpt-4o-mini")] + pairs[("openai", "gpt-4o-mini-2024-07-18")]
    opus = pairs[("anthropic", "claude-opus-4")] + pairs[("anthropic", "claude-opus-4-20250514")]
    assert cheap > opus


def test_every_catalog_model_and_snapshot_is_priced() -> None:
    at = START
    for spec in CATALOG:
        for model in (spec.model, *spec.snapshots):
            usage = Usage(input_tokens=250_000, output_tokens=100)
            price = calc_price(usage, model_ref=model, provider_id=spec.provider,
                               genai_request_timestamp=at)  # fmt: skip
            base = calc_price(Usage(input_tokens=200_000, output_tokens=100), model_ref=model,
                              provider_id=spec.provider, genai_request_timestamp=at)  # fmt: skip
            # Tiered models charge more per token above 200k input tokens; others do not.
            per_token_jump = price.input_price / 250_000 > base.input_price / 200_000
            assert per_token_jump == spec.tiered, model


def test_token_semantics_and_long_prompts() -> None:
    events = generate_events(_config(runs_per_day=600, end=START + timedelta(days=2)))
    tiered = {(m.provider, m.model) for m in CATALOG if m.tiered}
    long_calls = calls = cached = written = reasoning = 0
    for e in events:
        if not e["event_type"].startswith("model_call."):
            continue
        calls += 1
        u = e["resource_usage"]
        assert u.get("cached_tokens", 0) + u.get("cache_write_tokens", 0) <= u["input_tokens"]
        assert u.get("reasoning_tokens", 0) <= u["output_tokens"]
        if "total_tokens" in u:
            assert u["total_tokens"] == u["input_tokens"] + u["output_tokens"]
        cached += u.get("cached_tokens", 0) > 0
        written += u.get("cache_write_tokens", 0) > 0
        reasoning += u.get("reasoning_tokens", 0) > 0
        if u["input_tokens"] > 200_000:
            long_calls += 1
            assert (e["model_call"]["provider"], e["model_call"]["model"]) in tiered
    assert calls > 5_000
    assert 0.002 < long_calls / calls < 0.01
    assert cached and written and reasoning


# ---- sinks and command line ------------------------------------------------------------


def test_max_events_is_exact_and_files_split(tmp_path: Path) -> None:
    summary = write_jsonl(
        generate_lines(_config(max_events=2_500, invalid_rate=0.05)),
        tmp_path / "out",
        events_per_file=1_000,
    )
    assert summary.events == 2_500
    assert summary.valid + summary.invalid + summary.duplicates == 2_500
    sizes = [len(Path(f).read_bytes().splitlines()) for f in summary.files]
    assert sizes == [1_000, 1_000, 500]
    assert not list((tmp_path / "out").glob("*.part"))


def test_cli_relative_window_and_json_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "demo.jsonl"
    now = "2026-11-02T10:30:00Z"
    code = cli_main(["generate", "--days", "1", "--now", now, "--tenants", "2",
                     "--runs-per-day", "100", "--out", str(out), "--json"])  # fmt: skip
    assert code == 0
    summary = orjson.loads(capsys.readouterr().out)
    lines = out.read_bytes().splitlines()
    assert summary["events"] == summary["valid"] == len(lines) > 100
    assert summary["files"] == [str(out)]
    stamps = [orjson.loads(line)["occurred_at"] for line in lines]
    assert max(stamps) <= "2026-11-02T10:30:00.000Z"
    assert min(stamps) >= "2026-11-01T10:30:00.000Z"
    tenants = {orjson.loads(line)["tenant"]["tenant_id"] for line in lines}
    assert len(tenants) == 2


def test_cli_refuses_a_window_in_the_future(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli_main(["generate", "--start", "2026-10-01", "--end", "2026-10-03",
                     "--now", "2026-10-02T00:00:00Z", "--out", "-"])  # fmt: skip
    assert code == 2
    assert "--end" in capsys.readouterr().err


def test_post_sends_batches_and_honours_retry_after() -> None:
    requests: list[httpx.Request] = []
    answers = iter([httpx.Response(429, headers={"Retry-After": "2"}),
                    httpx.Response(503, headers={"Retry-After": "1"})])  # fmt: skip

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return next(answers, httpx.Response(200, json={"accepted": 500}))

    slept: list[float] = []
    client = httpx.Client(transport=httpx.MockTransport(handler))
    summary = gen.post_ndjson(
        generate_lines(_config(max_events=1_200)),
        "http://loader.test/v1/events",
        "s3cret",
        client=client,
        sleep=slept.append,
    )
    assert slept == [2.0, 1.0]
    assert summary.events == 1_200 and summary.posted_batches == 3
    bodies = [r.content for r in requests]
    assert [len(b.splitlines()) for b in bodies] == [500, 500, 500, 500, 200]
    assert bodies[0] == bodies[1] == bodies[2]  # the same batch, retried
    assert all(r.headers["Authorization"] == "Bearer s3cret" for r in requests)
    assert all(r.headers["Content-Type"] == "application/x-ndjson" for r in requests)


def test_post_stops_on_a_client_error() -> None:
    client = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(401)))
    with pytest.raises(gen.GeneratorError, match="401.*--token"):
        gen.post_ndjson(generate_lines(_config(max_events=10)), "http://x.test/v1/events", "t",
                        client=client, sleep=lambda s: None)  # fmt: skip


# ---- with the file loader --------------------------------------------------------------


def test_loader_accepts_100k_generated_events(tmp_path: Path) -> None:
    from ingestion.files.loader import load_paths

    summary = write_jsonl(
        generate_lines(_config(runs_per_day=1_100, max_events=100_000)), tmp_path / "in"
    )
    assert summary.valid == 100_000
    loaded = load_paths([tmp_path / "in"], tmp_path / "data", final=True)
    assert loaded.quarantined == 0
    assert loaded.accepted == summary.valid
    assert loaded.duplicates == 0
    assert loaded.by_reason == {}


def test_loader_quarantines_exactly_the_invalid_lines(tmp_path: Path) -> None:
    from ingestion.files.loader import load_paths

    summary = write_jsonl(
        generate_lines(_config(runs_per_day=400, end=START + timedelta(days=2), invalid_rate=0.01,
                               duplicate_rate=0.005)),
        tmp_path / "in",
    )  # fmt: skip
    assert summary.invalid > 80 and summary.duplicates > 40
    loaded = load_paths([tmp_path / "in"], tmp_path / "data", final=True)
    assert loaded.quarantined == summary.invalid
    expected = Counter()
    for kind, n in summary.by_defect.items():
        expected[EXPECTED_REASON[kind]] += n
    assert loaded.by_reason == dict(expected)
    assert loaded.duplicates == summary.duplicates
