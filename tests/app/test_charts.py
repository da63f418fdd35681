"""Every chart builder gives a valid Vega-Lite spec (the app skips Altair's validation at render
time for speed, so it happens here), and colours are the same for a value everywhere."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pandas as pd

from app import charts

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _valid(chart) -> dict:
    return chart.to_dict(validate=True)  # raises on an invalid spec


def test_time_series_charts_are_valid() -> None:
    df = pd.DataFrame(
        {
            "bucket": [T0, T0, T0 + timedelta(hours=1)],
            "provider": ["openai", "anthropic", "some-new-provider"],
            "spend_usd": [Decimal("1.25"), Decimal("0.5"), Decimal("0")],
        }
    )
    for grain in ("hour", "day"):
        spec = _valid(
            charts.stacked_bars(
                df, "spend_usd", "provider", charts.PROVIDER_COLOURS,
                title="t", value_title="USD", money=True, grain=grain,
            )
        )  # fmt: skip
        assert spec["encoding"]["x"]["timeUnit"].startswith("utc")
    rate = pd.DataFrame({"bucket": [T0], "failure_rate": [0.25]})
    _valid(charts.line(rate, "failure_rate", title="t", value_title="v", percent=True))


def test_bar_budget_and_waterfall_charts_are_valid() -> None:
    by = pd.DataFrame({"policy_id": ["a", "a", "b"], "decision": ["allow", "block", "allow"],
                       "decisions": [3, 1, 2]})  # fmt: skip
    _valid(charts.ranked_bars(by, "policy_id", "decisions", title="t", value_title="v",
                              palette=charts.STATUS_COLOURS, colour_by="decision"))  # fmt: skip
    _valid(charts.ranked_bars(by, "policy_id", "decisions", title="t", value_title="v",
                              colour=charts.BAD))  # fmt: skip
    budgets = pd.DataFrame(
        {
            "budget_id": ["a", "b"],
            "limit_usd": [Decimal("10"), Decimal("20")],
            "spend_usd": [Decimal("12"), Decimal("5")],
            "forecast_usd": [Decimal("12"), Decimal("25")],
            "pct_used": [120.0, 25.0],
        }
    )
    _valid(charts.budget_bars(budgets))
    spans = pd.DataFrame(
        {
            "label": ["1. run r", "2. · step plan"],
            "kind": ["run", "step"],
            "name": ["run r", "step plan"],
            "is_failed": [True, False],
            "start_ms": [0.0, 5.0],
            "end_ms": [100.0, 5.0],
            "duration_ms": [100.0, 0.0],
            "total_tokens": [None, 10],
            "cost_usd": [None, Decimal("0.001")],
            "error": ["timeout: slow", None],
        }
    )
    spec = _valid(charts.waterfall(spans))
    assert spec["encoding"]["x2"]["field"] == "bar_end_ms"  # instant spans stay visible


def test_colours_are_stable_per_value() -> None:
    assert charts.colour_for("OpenAI", charts.PROVIDER_COLOURS) == charts.PROVIDER_COLOURS["openai"]
    assert charts.colour_for("failed", charts.STATUS_COLOURS) == charts.BAD
    unknown = charts.colour_for("acme-llm", charts.PROVIDER_COLOURS)
    assert unknown == charts.colour_for("acme-llm", charts.PROVIDER_COLOURS)
    scale = charts.scale(["b", "a", "b"], {"a": "#000000"})
    assert scale.domain == ["a", "b"] and scale.range[0] == "#000000"
