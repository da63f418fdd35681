"""`Retry-After`: delta-seconds or an HTTP date, as the client, the generator and alert
delivery read it."""

from __future__ import annotations

from datetime import UTC, datetime

from ingestion.producers.retry_after import parse_retry_after

NOW = datetime(2026, 11, 25, 10, 0, 0, tzinfo=UTC)


def test_retry_after_seconds() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after(" 7 ") == 7.0
    assert parse_retry_after("-4") == 0.0  # never a negative wait


def test_retry_after_absent_or_unreadable() -> None:
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None
    assert parse_retry_after("soon") is None


def test_retry_after_http_date() -> None:
    assert parse_retry_after("Wed, 25 Nov 2026 10:00:30 GMT", now=NOW) == 30.0
    # "-0000" parses without a zone; RFC 5322 says it is UTC.
    assert parse_retry_after("Wed, 25 Nov 2026 10:01:00 -0000", now=NOW) == 60.0
    assert parse_retry_after("Wed, 25 Nov 2026 09:00:00 GMT", now=NOW) == 0.0  # past: now
