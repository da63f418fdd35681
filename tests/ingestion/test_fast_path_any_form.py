"""The loader's fast path takes a valid event in any JSON form, and agrees with the full check.

Producers write JSON in many forms: Python's `json.dumps` spacing, other key orders, `\\uXXXX`
escapes. Hypothesis varies all three over generated events (and a few defects); the loader's
hot loop must give the verdict and store the bytes that the full check alone gives, and must
not fall back to the full check line by line.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ingestion.files.chunks as chunks
from ingestion.files.chunks import ChunkJob, finish_load, process_chunk
from ingestion.lake.store import Lake
from ingestion.validation.contract import (
    ValidationConfig,
    check_line,
    same_as_sent,
    to_us,
)
from ingestion.validation.redaction import DEFAULT_REDACTOR
from tests.ingestion.test_loader_fast_path import NOW, generated_lines


def _events() -> list[dict[str, Any]]:
    out = []
    for line in generated_lines()[:400]:
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(event, dict):
            out.append(event)
    return out


EVENTS = _events()


def shuffled(value: Any, rng: random.Random) -> Any:
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {k: shuffled(v, rng) for k, v in items}
    if isinstance(value, list):
        return [shuffled(v, rng) for v in value]
    return value


def escape_some(text: str, rng: random.Random) -> str:
    """Write some ASCII letters inside strings as \\u00XX (a JSON-aware rewrite of the text)."""
    out, in_string, escaped = [], False, False
    for ch in text:
        if in_string and not escaped and ch.isalpha() and ch.isascii() and rng.random() < 0.2:
            out.append(f"\\u{ord(ch):04x}")
            continue
        out.append(ch)
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = in_string
        elif ch == '"':
            in_string = not in_string
    return "".join(out)


@st.composite
def forms(draw: st.DrawFn) -> list[bytes]:
    rng = random.Random(draw(st.integers(0, 2**32)))
    lines = []
    for event in rng.sample(EVENTS, 8):
        if draw(st.booleans()):
            event = shuffled(event, rng)
        text = json.dumps(
            event,
            separators=draw(st.sampled_from([(",", ":"), (", ", ": "), (" , ", " : ")])),
            ensure_ascii=draw(st.booleans()),
        )
        if draw(st.booleans()):
            text = escape_some(text, rng)
        defect = draw(st.sampled_from(["none"] * 6 + ["dup", "dup_spaced", "money"]))
        if defect == "dup":
            text = text[:-1] + ', "event_id": "other"}'
        elif defect == "dup_spaced":
            text = text[:-1] + ',"run" :{}}'
        elif defect == "money":
            text = text[:-1] + ', "cost": {"cost_usd": 0.1234567890123456789, "currency": "USD"}}'
        lines.append(text.encode())
    return lines


def has_money(line: bytes) -> bool:
    event = orjson.loads(line)
    return "cost" in event or "budget" in event


def run_chunk(lines: list[bytes], data_dir: Path) -> tuple[dict[int, Any], list[tuple]]:
    Lake(data_dir).ensure()
    blob = b"".join(line + b"\n" for line in lines)
    job = ChunkJob(
        str(data_dir), "Ltest", 1, "src.jsonl", 1, blob, NOW, to_us(NOW),
        ValidationConfig(), DEFAULT_REDACTOR,
    )  # fmt: skip
    res = process_chunk(job)
    files = finish_load(job.load_id)
    rejected = {n: rej for n, _raw, rej in res.rejected}
    rows: list[tuple] = []
    if files:
        rows = (
            duckdb.connect()
            .execute(
                "SELECT * EXCLUDE (load_id, loaded_at) "
                f"FROM read_parquet({files!r}) ORDER BY source_line"
            )
            .fetchall()
        )
    for f in files:
        Path(f).unlink()
    return rejected, rows


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(lines=forms())
def test_fast_path_and_full_check_agree_on_any_json_form(
    lines: list[bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[bytes] = []
    real_check_line = chunks.check_line

    def counting(raw: bytes, *args: Any) -> Any:
        calls.append(raw)
        return real_check_line(raw, *args)

    with monkeypatch.context() as m:
        m.setattr(chunks, "check_line", counting)
        fast = run_chunk(lines, tmp_path / "fast")
    with monkeypatch.context() as m:
        m.setattr(chunks, "fast_stamps", lambda *a: None)  # every line takes the full check
        full = run_chunk(lines, tmp_path / "full")
    assert fast[0] == full[0]  # same rejections, reasons and paths
    assert fast[1] == full[1]  # same rows, column by column
    # Only lines the full check refuses, or whose money digits hide behind escapes, fall back.
    refused = {line for line in lines if not hasattr(check_line(line, NOW), "event")}
    money_escaped = {line for line in lines if b"\\" in line and has_money(line)}
    assert set(calls) <= refused | money_escaped


# Repeated keys (plain, spaced, behind `\u0022` / `\u003a` escapes), strings that spell `":`
# themselves, and money digits a float would drop.
TRICKY = [
    b'{"a":1,"b":"x\\":y"}',
    b'{"a" :1, "a":2}',
    b'{"a"\t:1,"b":2}',
    b'{"a":1,"\\u0061":2}',
    b'{"a\\u0022:":1}',
    b'{"a":"\\u0022\\u003a","b":"c"}',
    b'{"a":"\\u0022:"}',
    b'{"x":"y", "x" : "z"}',
    b'{"cost":{"cost_usd":0.1234567890123456789,"currency":"USD"}}',
    b'{"cost":{"cost_usd":1.5,"currency":"USD"}}',
    b'{"cost" : {"cost_usd" : 1.5, "cost_usd": 2}}',
    b'{"budget":{"limit_usd":10,"spend_usd":1e-19}}',
]


def test_the_form_check_finds_each_tricky_case() -> None:
    """Repeated keys behind spacing or escapes, and money digits a float drops, are caught."""
    parsed = [orjson.loads(t) for t in TRICKY]
    verdicts = [same_as_sent(t, p) for t, p in zip(TRICKY, parsed, strict=True)]
    expected = [True, False, True, False, True, True, True, False, False, True, False, False]
    assert verdicts == expected
