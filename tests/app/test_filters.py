"""The dashboard's pure logic, without Streamlit or a warehouse: time windows, cascading
filter options, money and number formatting."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pandas as pd
import pytest

from app import ui
from app.filters import Filters, cascade_options, window

NOW = datetime(2026, 11, 25, 10, 17, tzinfo=UTC)


def test_relative_window_ends_at_the_next_whole_hour_of_now() -> None:
    start, end, label = window("24h", None, NOW - timedelta(minutes=5), NOW)
    assert end == datetime(2026, 11, 25, 11, tzinfo=UTC)
    assert start == end - timedelta(hours=24)
    assert label == "Last 24 hours"


def test_relative_window_follows_data_that_stops_before_now() -> None:
    latest = datetime(2026, 11, 7, 23, 53, tzinfo=UTC)
    start, end, label = window("7d", None, latest, NOW)
    assert (start, end) == (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 8, tzinfo=UTC))
    assert "of data" in label and "2026-11-08 00:00" in label


def test_all_time_and_custom_dates() -> None:
    assert window("all", None, NOW, NOW)[:2] == (None, None)
    start, end, _ = window("custom", (date(2026, 11, 2), date(2026, 11, 3)), NOW, NOW)
    assert start == datetime(2026, 11, 2, tzinfo=UTC)
    assert end == datetime(2026, 11, 4, tzinfo=UTC)  # the last day is included
    start, end, _ = window("custom", (date(2026, 11, 2),), NOW, NOW)
    assert end - start == timedelta(days=1)
    assert window("custom", None, NOW, NOW)[:2] == (None, None)


def test_previous_period_and_grain() -> None:
    f = Filters(start=NOW - timedelta(days=1), end=NOW)
    prev = f.previous()
    assert prev is not None
    assert (prev.start, prev.end) == (NOW - timedelta(days=2), NOW - timedelta(days=1))
    assert f.grain() == "hour"
    assert Filters(start=NOW - timedelta(days=7), end=NOW).grain() == "day"
    assert Filters().previous() is None
    assert Filters().grain((NOW - timedelta(hours=5), NOW)) == "hour"


def test_cascade_narrows_options_below_a_chosen_filter() -> None:
    dims = pd.DataFrame(
        [
            ("acme", "acme-prod", "acme-support", "bot"),
            ("acme", "acme-dev", "acme-lab", "lab-agent"),
            ("globex", "globex-prod", "globex-support", "bot"),
        ],
        columns=["tenant_id", "workspace_id", "project_id", "agent_id"],
    )
    all_options = cascade_options(dims, {})
    assert all_options["tenant"] == ["acme", "globex"]
    assert all_options["agent"] == ["bot", "lab-agent"]
    acme = cascade_options(dims, {"tenant": "acme"})
    assert acme["workspace"] == ["acme-dev", "acme-prod"]
    assert cascade_options(dims, {"tenant": "acme", "workspace": "acme-prod"})["agent"] == ["bot"]
    # A value the data does not have narrows nothing.
    assert cascade_options(dims, {"tenant": "nope"})["workspace"] == all_options["workspace"]
    assert cascade_options(dims.iloc[0:0], {})["tenant"] == []


@pytest.mark.parametrize(
    ("value", "places", "shown"),
    [
        (Decimal("1234.565"), 2, "$1,234.57"),  # half up, from the exact decimal
        (Decimal("0.004999999999999999999999"), 2, "$0.00"),
        (Decimal("-2.5"), 2, "-$2.50"),
        (Decimal("0E-24"), 2, "$0.00"),
        (Decimal("0.0000125"), 6, "$0.000013"),
        (None, 2, "unpriced"),
    ],
)
def test_money_is_formatted_from_the_exact_decimal(value, places, shown) -> None:
    assert ui.usd(value, places) == shown


def test_number_formats() -> None:
    assert ui.integer(1234567) == "1,234,567"
    assert ui.percent(0.8943) == "89.4%"
    assert ui.percent(None) == "n/a"
    assert ui.millis(1947.6) == "1,948 ms"
    assert ui.millis(10_600) == "10.6 s"
    assert ui.change(110, 100) == "+10.0%"
    assert ui.change(Decimal("90"), Decimal("100")) == "-10.0%"
    assert ui.change(5, 0) is None
    assert ui.point_change(0.9, 0.85) == "+5.0 pp"
    assert ui.ago(NOW - timedelta(minutes=3), NOW) == "3 min ago"
    assert ui.ago(NOW - timedelta(days=17), NOW) == "17 d ago"
