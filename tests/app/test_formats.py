"""The dashboard's formats: one money format per kind, one latency unit per table, an em
dash for a missing value, time axes that end now."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pandas as pd

from app import charts, ui


def test_totals_to_cents_and_unit_costs_to_five_significant_digits() -> None:
    assert ui.usd(Decimal("270.655")) == "$270.66"
    assert ui.usd(Decimal("1234567.891")) == "$1,234,567.89"
    assert ui.unit_usd(Decimal("0.01105123")) == "$0.011051"
    assert ui.unit_usd(Decimal("115.16")) == "$115.16"
    assert ui.unit_usd(Decimal("2.5")) == "$2.5000"
    assert ui.unit_usd(Decimal("0.000000123456")) == "$0.00000012346"
    assert ui.unit_usd(Decimal("12345.678")) == "$12,345.68"  # never coarser than cents
    assert ui.unit_usd(Decimal(0)) == "$0.00"
    assert ui.unit_usd(None) == "unpriced"


def test_one_latency_unit_for_values_shown_together() -> None:
    assert ui.latency_unit(860.0, 12_300.0) == "s"
    assert [ui.millis(v, "s") for v in (860.0, 12_300.0)] == ["0.9 s", "12.3 s"]
    assert ui.latency_unit(850.0, 9_999.0, None) == "ms"
    assert [ui.millis(v, "ms") for v in (850.0, 9_999.0)] == ["850 ms", "9,999 ms"]
    assert ui.millis(None) == "n/a"


def test_time_axes_end_now_at_the_latest() -> None:
    now = datetime(2026, 11, 25, 14, 30, tzinfo=UTC)
    days = pd.DataFrame({"bucket": pd.to_datetime(["2026-11-24", "2026-11-25"], utc=True)})
    assert charts.time_end(days, "day", now) == now  # today's bar stops now, not tomorrow
    hours = pd.DataFrame({"bucket": pd.to_datetime(["2026-11-20 09:00"], utc=True)})
    assert charts.time_end(hours, "hour", now) == datetime(2026, 11, 20, 10, tzinfo=UTC)
    assert charts.time_end(pd.DataFrame({"bucket": []}), "day", now) is None
