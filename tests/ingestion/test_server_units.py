"""The HTTP loader's pure parts and its write-ahead log, without a server."""

from __future__ import annotations

import gzip
import hmac
import zlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import orjson
import pytest

from ingestion.http.bodies import (
    ApiError,
    ServerSettings,
    body_kind,
    decompress,
    split_and_check,
    too_deep,
)
from ingestion.http.budget_check import budget_decision
from ingestion.http.metrics import Metrics
from ingestion.http.tokens import TokenStore, create_token, read_tokens, revoke_token, tokens_path
from ingestion.http.wal import Flusher, WriteAheadLog
from ingestion.validation.contract import ValidEvent
from tests.conftest import make_event

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


def settings(tmp_path: Path, **kw: object) -> ServerSettings:
    return ServerSettings(data_dir=tmp_path, **kw)  # type: ignore[arg-type]


# -- bodies --------------------------------------------------------------------------------------


def test_decompress_caps_output_and_reads_multi_member_gzip() -> None:
    assert decompress(b"plain", None, 10) == b"plain"
    two = gzip.compress(b"abc") + gzip.compress(b"def")
    assert decompress(two, "gzip", 100) == b"abcdef"
    with pytest.raises(ApiError) as exc:
        decompress(gzip.compress(b"0" * 10_000_000), "gzip", 1000)
    assert (exc.value.status, exc.value.reason_code) == (413, "decompressed_too_large")
    with pytest.raises(ApiError) as exc:
        decompress(gzip.compress(b"abc" * 100)[:-12], "gzip", 1000)
    assert exc.value.reason_code == "invalid_gzip"
    with pytest.raises(ApiError) as exc:
        decompress(zlib.compress(b"abc"), "deflate", 1000)
    assert exc.value.status == 415


def test_body_kind() -> None:
    assert body_kind("application/x-ndjson; charset=utf-8", b"") == "ndjson"
    assert body_kind("application/json", b"{}\n{}") == "json"
    assert body_kind(None, b" [1]") == "json"
    assert body_kind(None, b'{"a": 1}\n{"a": 2}\n') == "ndjson"
    assert body_kind("", b'{"a": 1}\n') == "json"
    with pytest.raises(ApiError):
        body_kind("text/csv", b"")


@pytest.mark.parametrize(
    ("text", "limit", "deep"),
    [
        (b'{"a": [1, {"b": 2}]}', 3, False),
        (b'{"a": [1, {"b": 2}]}', 2, True),
        (b'{"a": "[[[[[[[[[[{{{{{{"}', 1, False),  # brackets inside strings do not count
        (b'{"a": "\\"[[[[[[", "b": 1}', 1, False),  # nor after an escaped quote
        (b"[" * 50, 10, True),  # unbalanced and deep: refused before any parser recurses
        (b"[1, 2}", 10, False),  # unbalanced, shallow: the parser reports it
        (b'{"a":1}\n{"b":[[[[1]]]]}', 4, True),  # NDJSON: per line
    ],
)
def test_too_deep(text: bytes, limit: int, deep: bool) -> None:
    assert too_deep(text, limit) is deep


def test_array_with_a_duplicate_key_judges_each_element(tmp_path: Path) -> None:
    good = orjson.dumps(make_event(event_id="a"))
    dup = orjson.dumps(make_event(event_id="b")).replace(b'"provider"', b'"model":"x","provider"')
    body = b"[" + good + b",\n  " + dup + b", " + good.replace(b'"a"', b'"c"') + b"]"
    items = split_and_check(body, "json", NOW, settings(tmp_path))
    assert [type(i.result).__name__ for i in items] == ["ValidEvent", "Rejection", "ValidEvent"]
    rej = items[1].result
    assert rej.reason_code == "duplicate_key" and rej.errors[0].path == "/model_call/model"
    assert rej.event_id == "b" and items[1].line_no == 2


def test_array_elements_carry_their_size_for_the_event_limit(tmp_path: Path) -> None:
    big = make_event(event_id="big", attributes={"x": "y" * 2000})
    items = split_and_check(
        orjson.dumps([make_event(), big]), "json", NOW, settings(tmp_path, max_event_bytes=1500)
    )
    assert isinstance(items[0].result, ValidEvent)
    assert items[1].result.reason_code == "event_too_large"


def test_limits_raise_clear_errors(tmp_path: Path) -> None:
    s = settings(tmp_path, max_events=2)
    with pytest.raises(ApiError) as exc:
        split_and_check(orjson.dumps([make_event()] * 3), "json", NOW, s)
    assert exc.value.status == 413 and "3 events" in exc.value.message
    with pytest.raises(ApiError) as exc:
        split_and_check(b"\n\n", "ndjson", NOW, s)
    assert exc.value.reason_code == "empty_body"
    (item,) = split_and_check(b"42", "json", NOW, s)  # not an object: an invalid event
    assert item.result.reason_code == "wrong_type"
    with pytest.raises(ValueError):
        ServerSettings(data_dir=tmp_path, max_depth=500)


# -- budgets and metrics -------------------------------------------------------------------------


def test_budget_decision_blocks_only_current_block_budgets_over_limit() -> None:
    def row(
        budget_id: str, scope: str, scope_id: str, over: bool, enforcement: str, end: datetime,
        tenant_id: str = "acme",
    ):  # fmt: skip
        return {
            "budget_id": budget_id, "tenant_id": tenant_id, "scope": scope,
            "scope_id": scope_id, "period": "daily",
            "period_start": end - timedelta(days=1), "period_end": end, "as_of": NOW,
            "limit_usd": Decimal("10.000"), "spend_usd": Decimal("12.50"), "pct_used": 125.0,
            "is_over_limit": over, "forecast_usd": Decimal("13"), "enforcement": enforcement,
        }  # fmt: skip

    later, earlier = NOW + timedelta(hours=5), NOW - timedelta(hours=5)
    rows = [
        row("p-block", "project", "p1", True, "block", later),
        row("t-alert", "tenant", "acme", True, "alert", later),
        row("a-block-stale", "agent", "a1", True, "block", earlier),
        row("other-project", "project", "p2", True, "block", later),
        # Another tenant's budgets, on a project and an agent of the same names: not acme's.
        row("zeta-p-block", "project", "p1", True, "block", later, tenant_id="zeta"),
        row("zeta-tenant", "tenant", "zeta", True, "block", later, tenant_id="zeta"),
    ]
    scopes = {"workspace": None, "project": "p1", "agent": "a1"}
    answer = budget_decision(rows, "acme", scopes, NOW)
    assert answer["allowed"] is False and answer["blocking"] == ["p-block"]
    assert {b["budget_id"] for b in answer["budgets"]} == {"p-block", "t-alert", "a-block-stale"}
    assert answer["budgets"][0]["limit_usd"] == "10" and answer["budgets"][0]["spend_usd"] == "12.5"
    assert budget_decision(rows, "acme", {**scopes, "project": None}, NOW)["allowed"] is True
    zeta = budget_decision(rows, "zeta", scopes, NOW)
    assert zeta["blocking"] == ["zeta-p-block", "zeta-tenant"]
    assert {b["budget_id"] for b in zeta["budgets"]} == {"zeta-p-block", "zeta-tenant"}


def test_metrics_render_prometheus_text() -> None:
    m = Metrics()
    m.accepted, m.duplicates = 5, 1
    m.rejected["missing_field"] += 2
    m.observe("/v1/events", 202, 0.003)
    m.observe("/v1/events", 202, 0.3)
    text = m.render({"agentops_wal_backlog_bytes": ("backlog", 10)}, {})
    assert 'agentops_http_events_rejected_total{reason_code="missing_field"} 2' in text
    assert 'agentops_http_request_duration_seconds_bucket{route="/v1/events",le="0.005"} 1' in text
    assert 'agentops_http_request_duration_seconds_bucket{route="/v1/events",le="+Inf"} 2' in text
    assert 'agentops_http_request_duration_seconds_count{route="/v1/events"} 2' in text
    assert "# TYPE agentops_wal_backlog_bytes gauge\nagentops_wal_backlog_bytes 10" in text


# -- tokens --------------------------------------------------------------------------------------


def test_tokens_are_stored_hashed_checked_in_constant_time_and_revocable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token, rec = create_token("acme", tmp_path)
    other, _ = create_token("globex", tmp_path)
    assert token.startswith("aow_") and len(token) > 40
    stored = tokens_path(tmp_path).read_text()
    assert token not in stored and rec.sha256 in stored
    assert tokens_path(tmp_path).stat().st_mode & 0o777 == 0o600
    store = TokenStore(tokens_path(tmp_path))
    calls: list[int] = []
    real = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: calls.append(1) or real(a, b))
    assert store.authenticate(token).tenant_id == "acme"
    assert store.authenticate(other).tenant_id == "globex"
    assert store.authenticate(token + "x") is None and store.authenticate(None) is None
    assert len(calls) == 6  # every stored hash compared, whatever matched
    revoke_token(rec.token_id, tmp_path)
    assert store.authenticate(token) is None and store.active_count() == 1
    assert [r.active for r in read_tokens(tokens_path(tmp_path))] == [False, True]


# -- the write-ahead log -------------------------------------------------------------------------


def test_wal_cuts_an_unacknowledged_torn_line_and_refuses_a_second_owner(tmp_path: Path) -> None:
    wal_dir = tmp_path / "wal"
    wal_dir.mkdir()
    good = orjson.dumps(make_event(event_id="w1")) + b"\n"
    (wal_dir / "20261120T000000000000-1-000001.jsonl").write_bytes(good + b'{"event_id": "w2"')
    (wal_dir / "20261120T000000000000-1-000002.jsonl").write_bytes(b"")
    wal = WriteAheadLog(wal_dir)
    (seg,) = wal.open()
    assert seg.read_bytes() == good and wal.backlog_bytes == len(good)
    assert not (wal_dir / "20261120T000000000000-1-000002.jsonl").exists()
    from ingestion.http.wal import WalInUse

    with pytest.raises(WalInUse):
        WriteAheadLog(wal_dir).open()
    wal.close()


def test_flush_loads_segments_once_even_if_one_comes_back(tmp_path: Path) -> None:
    """A crash between a segment's load and its deletion: loading it again changes nothing."""
    from ingestion.validation.contract import ValidationConfig

    wal = WriteAheadLog(tmp_path / "wal", segment_max_bytes=1 << 20, segment_max_age=0)
    wal.open()
    lines = [orjson.dumps(make_event(event_id=f"f{i}")) for i in range(3)]
    wal.append(b"\n".join(lines) + b"\n")
    wal.rotate_if_due(force=True)
    (seg,) = wal.closed_segments()
    kept = seg.read_bytes()
    flusher = Flusher(wal, tmp_path, ValidationConfig(), in_process=True)
    assert flusher.flush_closed() == 3 and not seg.exists()
    seg.write_bytes(kept)  # as if the process died before the delete
    wal.close()
    wal = WriteAheadLog(tmp_path / "wal")
    assert wal.open() == [seg]
    flusher = Flusher(wal, tmp_path, ValidationConfig(), in_process=True)
    flusher.flush_closed()
    assert flusher.stats.summaries[-1]["files_skipped"] == 1 and not seg.exists()
    glob = str(tmp_path / "lake" / "events" / "**" / "*.parquet")
    con = duckdb.connect()
    assert con.execute(f"SELECT count(*) FROM read_parquet('{glob}')").fetchone() == (3,)
    con.close()
    wal.close()
