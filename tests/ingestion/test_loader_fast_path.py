"""The loader's hot loop gives `check_line`'s verdict on every line, and writes what it accepts.

The loader validates most lines on an unrolled fast path and hands the rest to `check_line`;
these tests hold the two to the same verdicts over generated lines with every defect, and
over hand-made lines aimed at each shortcut the fast path takes (canonical text, duplicate
keys, float token counts, money digits, offsets), then read the lake back with DuckDB.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest

from ingestion.files.chunks import ChunkJob, finish_load, process_chunk
from ingestion.files.loader import load_paths
from ingestion.lake.store import Lake
from ingestion.synthetic.generator import GeneratorConfig, generate_lines
from ingestion.validation.contract import (
    Rejection,
    ValidationConfig,
    ValidEvent,
    attributes_json,
    check_line,
    content_hash,
    to_us,
)
from ingestion.validation.redaction import DEFAULT_REDACTOR
from tests.conftest import make_event

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


def _run(**fields: Any) -> dict[str, Any]:
    run = dict(make_event()["run"])
    run.update(fields)
    return run


def hand_lines() -> list[bytes]:
    """Lines aimed at the fast path's shortcuts, valid and not."""
    base = make_event()
    dumped = orjson.dumps(base)
    spaced = json.dumps(base).encode()  # ", " and ": " separators: valid, not orjson's form
    usage = base["resource_usage"]
    dup_compact = dumped[:-1] + b',"event_id":"other"}'
    dup_spaced = dumped[:-1] + b', "event_id" : "other"}'
    dup_nested = dumped.replace(b'"tenant":{', b'"tenant":{"tenant_id":"x",', 1)
    escaped = dumped.replace(b'"event_id":"', b'"event_id":"\\u0065', 1)
    out = [
        dumped,
        spaced,
        json.dumps(base, indent=None, separators=(",", ":"), sort_keys=True).encode(),
        dumped + b"\r",  # CRLF file
        b"",
        b"   ",
        dup_compact,
        dup_spaced,
        dup_nested,
        escaped,
        dumped.replace(b'"occurred_at":"2', b'"occurred_at" :"2', 1),  # spaced, no duplicate
        orjson.dumps(make_event(resource_usage={**usage, "input_tokens": 3.0})),
        orjson.dumps(
            make_event(resource_usage={**usage, "output_tokens": usage["output_tokens"] * 1.0})
        ),
        dumped.replace(b'"2026-', b'"2026-', 1).replace(b"Z", b"z", 1),
        orjson.dumps(make_event(occurred_at="2026-11-25T13:00:00+01:00")),
        orjson.dumps(make_event(occurred_at="2026-11-25T12:04:59Z")),  # within the skew
        orjson.dumps(make_event(occurred_at="2026-11-25T12:05:01Z")),  # beyond it
        orjson.dumps(make_event(occurred_at="2026-02-30T00:00:00Z")),
        orjson.dumps(make_event(run=_run(started_at="2026-11-20T10:00:00Z"))),
        orjson.dumps(
            make_event(run=_run(started_at="2026-11-20T10:00:00Z", ended_at="2026-11-20T09:00:00Z"))
        ),
        orjson.dumps(
            make_event(resource_usage={**usage, "total_tokens": usage["input_tokens"] + 1})
        ),
        orjson.dumps(make_event(cost={"cost_usd": 0.0002572, "currency": "USD"})),
        orjson.dumps(make_event(cost={"cost_usd": 1e-19, "currency": "USD"})),
        orjson.dumps(make_event(cost={"cost_usd": 1e20, "currency": "USD"})),
        orjson.dumps(make_event(cost={"cost_usd": 12, "currency": "USD"})),
        dumped[:-1] + b',"cost":{"cost_usd":0.123456789012345678,"currency":"USD"}}',
        dumped[:-1] + b',"cost":{"cost_usd":0.1234567890123456789,"currency":"USD"}}',
        dumped[:-1] + b',"cost":{"cost_usd":1.50000000000000000000000,"currency":"USD"}}',
        orjson.dumps(make_event(attributes={"b": 1, "a": "x", "mail": "ann@example.com"})),
        # A repeated key whose extra separator a `\u003a` (":") in a string makes up for.
        dumped[:-1] + b',"attributes":{"note":"a\\"\\u003a b"},"event_id":"other"}',
        dumped[:-1] + b',"attributes":{"note":"a\\u0022: b"},"event_id":"other"}',
        # An escaped money key, an attribute named like it standing in for its digits.
        dumped[:-1] + b',"attributes":{"cost_usd":1},'
        b'"cost":{"c\\u006fst_usd":0.1234567890123456789,"currency":"USD"}}',
        dumped[:-1] + b',"attributes":{"cost_usd":1},'
        b'"cost":{"c\\u006fst_usd":0.25,"currency":"USD"}}',
        json.dumps(make_event(attributes={"note": "réponse ✓"}), ensure_ascii=True).encode(),
        orjson.dumps(make_event(extra=1)),
        b'{"event_id": NaN}',
        b"\xff\xfe not utf-8",
        b"[1, 2]",
        b"{not json",
    ]
    return out


def generated_lines() -> list[bytes]:
    config = GeneratorConfig(
        start=NOW - timedelta(days=2),
        end=NOW - timedelta(days=1),
        seed=11,
        runs_per_day=150,
        invalid_rate=0.05,
        duplicate_rate=0.02,
    )
    return [line for line, _kind in generate_lines(config)]


def verdicts_of_loader(lines: list[bytes], data_dir: Path) -> tuple[dict[int, Any], list[tuple]]:
    """Run the hot loop on one chunk; (rejections by line, lake rows by line)."""
    Lake(data_dir).ensure()
    blob = b"".join(line + b"\n" for line in lines)
    job = ChunkJob(
        str(data_dir), "Ltest", 1, "src.jsonl", 1, blob, NOW, to_us(NOW),
        ValidationConfig(), DEFAULT_REDACTOR,
    )  # fmt: skip
    res = process_chunk(job)
    files = finish_load(job.load_id)
    rejected = {line_no: rej for line_no, _raw, rej in res.rejected}
    rows = []
    if files:
        rows = (
            duckdb.connect()
            .execute(
                "SELECT source_line, event_id, event_hash, occurred_at, run.started_at, "
                "cost.cost_usd, attributes, resource_usage.input_tokens "
                f"FROM read_parquet({files!r}) ORDER BY source_line"
            )
            .fetchall()
        )
    return rejected, rows


@pytest.mark.parametrize("corpus", ["hand", "generated"])
def test_hot_loop_gives_check_lines_verdict_on_every_line(corpus: str, tmp_path: Path) -> None:
    lines = hand_lines() if corpus == "hand" else generated_lines()
    rejected, rows = verdicts_of_loader(lines, tmp_path / "data")
    by_line = {row[0]: row for row in rows}
    n_valid = 0
    for i, line in enumerate(lines, start=1):
        raw = line[:-1] if line.endswith(b"\r") else line
        if not raw.strip():
            assert i not in rejected and i not in by_line
            continue
        expected = check_line(raw, NOW)
        if isinstance(expected, Rejection):
            assert i not in by_line, (i, line[:120])
            assert rejected[i] == expected, (i, line[:120])
            continue
        n_valid += 1
        assert i not in rejected, (i, line[:120], rejected.get(i))
        event = DEFAULT_REDACTOR.redact_event(expected.event)
        row = by_line[i]
        assert row[1] == event["event_id"]
        assert row[2] == content_hash(event)
        assert to_us(row[3]) == expected.timestamps_us[("occurred_at",)]
        started = expected.timestamps_us.get(("run", "started_at"))
        assert (to_us(row[4]) if row[4] else None) == started
        assert row[6] == attributes_json(event)
        assert row[7] == (event.get("resource_usage") or {}).get("input_tokens")
    assert len(rows) == n_valid
    assert n_valid > (10 if corpus == "hand" else 1000)


def test_money_is_exact_or_refused(tmp_path: Path) -> None:
    base = orjson.dumps(make_event(event_id="m"))[:-1]
    lines = [
        base + b',"cost":{"cost_usd":0.123456789012345678,"currency":"USD"}}',
        base.replace(b'"m"', b'"m2"') + b',"cost":{"cost_usd":1e-7,"currency":"USD"}}',
        base.replace(b'"m"', b'"m3"')
        + b',"cost":{"cost_usd":99999999999999999999.5,"currency":"USD"}}',
        base.replace(b'"m"', b'"m4"')
        + b',"cost":{"cost_usd":0.1234567890123456789,"currency":"USD"}}',
        base.replace(b'"m"', b'"m5"') + b',"cost":{"cost_usd":1e-19,"currency":"USD"}}',
        base.replace(b'"m"', b'"m6"') + b',"cost":{"cost_usd":1e20,"currency":"USD"}}',
    ]
    f = tmp_path / "money.jsonl"
    f.write_bytes(b"\n".join(lines) + b"\n")
    data_dir = tmp_path / "data"
    s = load_paths([f], data_dir, final=True, now=NOW)
    assert (s.accepted, s.quarantined, s.by_reason) == (3, 3, {"out_of_range": 3})
    glob = str(data_dir / "lake" / "events" / "**" / "*.parquet")
    got = duckdb.connect().execute(
        f"SELECT event_id, cost.cost_usd FROM read_parquet('{glob}') ORDER BY event_id"
    )
    assert got.fetchall() == [
        ("m", Decimal("0.123456789012345678")),
        ("m2", Decimal("0.0000001")),
        ("m3", Decimal("99999999999999999999.5")),
    ]
    rejections = [
        orjson.loads(line)
        for p in (data_dir / "quarantine").glob("*.jsonl")
        for line in p.read_bytes().splitlines()
    ]
    assert sorted(r["errors"][0]["path"] for r in rejections) == ["/cost/cost_usd"] * 3
    assert all("DECIMAL(38, 18)" in r["errors"][0]["message"] for r in rejections)


def test_check_line_refuses_money_digits_a_float_would_hide() -> None:
    line = orjson.dumps(make_event())[:-1] + (
        b',"cost":{"cost_usd":0.30000000000000000001,"currency":"USD"}}'
    )
    result = check_line(line, NOW)
    assert isinstance(result, Rejection)
    assert (result.reason_code, result.errors[0].path) == ("out_of_range", "/cost/cost_usd")
    ok = check_line(line.replace(b"0.30000000000000000001", b"0.300000000000000000000"), NOW)
    assert isinstance(ok, ValidEvent)
