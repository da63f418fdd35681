"""Charts, all Altair, with one colour per provider and per status across every page.

Money reaches a chart as float (a chart only needs its shape); the exact figures are in the
tiles and tables next to it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import altair as alt
import pandas as pd

# Altair's debug mode validates every object as it is built; with it off, building a chart is
# several times cheaper. The specs are validated in tests/app/test_charts.py instead.
alt.utils.schemapi.disable_debug_mode()

# Providers in their brand colours, so "anthropic" is the same orange on every page.
PROVIDER_COLOURS = {
    "openai": "#10a37f",
    "anthropic": "#d97757",
    "google": "#4285f4",
    "gemini": "#4285f4",
    "google-vertex": "#1a73e8",
    "mistral": "#f2b705",
    "deepseek": "#7c5cff",
    "azure": "#00a4ef",
    "aws": "#ff9900",
    "bedrock": "#ff9900",
    "groq": "#f55036",
    "cohere": "#39594d",
    "xai": "#6b7280",
    "x-ai": "#6b7280",
    "meta": "#0668e1",
    "together": "#0f6fff",
    "fireworks": "#5019c5",
    "openrouter": "#94a3b8",
}

# Outcomes: green is good, red failed, amber needs a human, grey stopped, blue in flight.
GOOD, BAD, WARN, NEUTRAL, ACTIVE, SPECIAL = (
    "#2e9e5b", "#d64545", "#e8a33d", "#9aa3ad", "#3b82f6", "#8b5cf6",
)  # fmt: skip
STATUS_COLOURS = {
    # runs
    "succeeded": GOOD,
    "failed": BAD,
    "cancelled": NEUTRAL,
    "running": ACTIVE,
    # policy decisions
    "allow": GOOD,
    "block": BAD,
    "escalate": WARN,
    "redact": SPECIAL,
    # alert delivery
    "sent": GOOD,
    "pending": WARN,
    "delivered": GOOD,
    # ledger reasons and price status
    "usage": GOOD,
    "reprice": WARN,
    "unpriced": BAD,
    "priced": GOOD,
    # data health
    "accepted": GOOD,
    "quarantined": BAD,
    "duplicates": WARN,
}
# What failed (fct_failures.failed_entity) and span kinds in a trace.
ENTITY_COLOURS = {
    "run": "#7c3aed",
    "step": "#0ea5e9",
    "model_call": "#f97316",
    "model call": "#f97316",
    "tool_call": "#14b8a6",
    "tool call": "#14b8a6",
    "policy": "#64748b",
    "event": "#94a3b8",
}
TOKEN_KIND_COLOURS = {
    "uncached input": "#3b82f6",
    "cache read": "#a5b4fc",
    "cache write": "#1e3a8a",
    "visible output": "#f59e0b",
    "reasoning": "#b45309",
}
_FALLBACK = [
    "#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#eeca3b", "#b279a2",
    "#ff9da6", "#9d755d", "#bab0ac",
]  # fmt: skip


def colour_for(value: str, palette: dict[str, str]) -> str:
    """The palette's colour, else a stable colour derived from the value itself."""
    key = str(value).lower()
    if key in palette:
        return palette[key]
    digest = hashlib.sha256(key.encode()).digest()
    return _FALLBACK[digest[0] % len(_FALLBACK)]


def scale(values: Iterable[str], palette: dict[str, str]) -> alt.Scale:
    domain = sorted({str(v) for v in values})
    return alt.Scale(domain=domain, range=[colour_for(v, palette) for v in domain])


def time_end(data: pd.DataFrame, grain: str, now: datetime | None = None) -> datetime | None:
    """Where a time axis ends: the end of the last bucket, but never after now (today's bar
    is cut at the current hour instead of running to tomorrow)."""
    if data.empty or "bucket" not in data:
        return None
    last = pd.Timestamp(data["bucket"].max())
    if pd.isna(last):
        return None
    last = last.tz_localize("UTC") if last.tzinfo is None else last.tz_convert("UTC")
    end = last.to_pydatetime() + (timedelta(hours=1) if grain == "hour" else timedelta(days=1))
    return min(end, now or datetime.now(UTC))


def _x_time(grain: str, data: pd.DataFrame | None = None) -> alt.X:
    """Time buckets in UTC; a bar fills its whole hour or day; the axis ends now at most."""
    end = time_end(data, grain) if data is not None else None
    scale = alt.Scale()
    if end is not None:
        scale = alt.Scale(
            domainMax=alt.DateTime(
                year=end.year, month=end.month, date=end.day, hours=end.hour,
                minutes=end.minute, utc=True,
            )
        )  # fmt: skip
    if grain == "hour":
        return alt.X(
            "utcyearmonthdatehours(bucket):T",
            title=None,
            axis=alt.Axis(format="%b %d %H:%M", labelOverlap=True),
            scale=scale,
        )
    # One tick a day: left alone, Vega puts two on a short range and repeats the date.
    return alt.X(
        "utcyearmonthdate(bucket):T",
        title=None,
        axis=alt.Axis(format="%b %d", labelOverlap=True, tickCount={"interval": "day", "step": 1}),
        scale=scale,
    )


def _axis(money: bool) -> alt.Axis:
    return alt.Axis(format="$,.2f" if money else "~s")


def _title(text: str) -> alt.TitleParams:
    return alt.TitleParams(text, anchor="start", frame="group", offset=8)


def stacked_bars(
    df: pd.DataFrame,
    value: str,
    colour_by: str,
    palette: dict[str, str],
    *,
    title: str,
    value_title: str,
    grain: str = "day",
    money: bool = False,
    height: int = 240,
) -> alt.Chart:
    """Bars per time bucket, stacked by a category coloured from `palette`."""
    data = df.copy()
    data[value] = data[value].astype(float)
    fmt = "$,.2f" if money else ",.0f"
    return (
        alt.Chart(data, title=_title(title), height=height)
        .mark_bar(clip=True)
        .encode(
            x=_x_time(grain, data),
            y=alt.Y(f"{value}:Q", title=value_title, axis=_axis(money)),
            color=alt.Color(
                f"{colour_by}:N",
                scale=scale(data[colour_by], palette),
                title=None,
                legend=alt.Legend(orient="bottom", columns=4),
            ),
            tooltip=[
                alt.Tooltip(
                    "bucket:T", title="time (UTC)", format="%Y-%m-%d %H:%M", formatType="utc"
                ),
                alt.Tooltip(f"{colour_by}:N"),
                alt.Tooltip(f"{value}:Q", title=value_title, format=fmt),
            ],
        )
    )


def line(
    df: pd.DataFrame,
    value: str,
    *,
    title: str,
    value_title: str,
    grain: str = "day",
    percent: bool = False,
    colour: str = BAD,
    height: int = 240,
) -> alt.Chart:
    data = df.copy()
    data[value] = data[value].astype(float)
    fmt = ".1%" if percent else ",.0f"
    return (
        alt.Chart(data, title=_title(title), height=height)
        .mark_line(point=True, color=colour, clip=True)
        .encode(
            x=_x_time(grain, data),
            y=alt.Y(
                f"{value}:Q", title=value_title, axis=alt.Axis(format=".0%" if percent else "~s")
            ),
            tooltip=[
                alt.Tooltip(
                    "bucket:T", title="time (UTC)", format="%Y-%m-%d %H:%M", formatType="utc"
                ),
                alt.Tooltip(f"{value}:Q", title=value_title, format=fmt),
            ],
        )
    )


def ranked_bars(
    df: pd.DataFrame,
    category: str,
    value: str,
    *,
    title: str,
    value_title: str,
    palette: dict[str, str] | None = None,
    colour_by: str | None = None,
    colour: str | None = None,
    money: bool = False,
) -> alt.Chart:
    """Horizontal bars, biggest first; coloured by `colour_by` (default: the category) from
    `palette`, or all in one `colour`."""
    data = df.copy()
    data[value] = data[value].astype(float)
    colour_by = colour_by or category
    encoding = {
        "y": alt.Y(f"{category}:N", sort="-x", title=None),
        "x": alt.X(f"{value}:Q", title=value_title, axis=_axis(money)),
        "tooltip": [
            alt.Tooltip(f"{category}:N"),
            alt.Tooltip(f"{value}:Q", title=value_title, format="$,.4f" if money else ",.0f"),
        ],
    }
    if palette is not None:
        encoding["color"] = alt.Color(
            f"{colour_by}:N", scale=scale(data[colour_by], palette), legend=None
        )
    return (
        alt.Chart(data, title=_title(title))
        .mark_bar(color=colour or ACTIVE)
        .encode(**encoding)
        .properties(height=alt.Step(22))
    )


def budget_bars(df: pd.DataFrame) -> alt.LayerChart:
    """Spend against limit per budget, with the forecast at period end as a tick."""
    data = df[["budget_id", "limit_usd", "spend_usd", "forecast_usd", "pct_used"]].copy()
    for col in ("limit_usd", "spend_usd", "forecast_usd", "pct_used"):
        data[col] = data[col].astype(float)
    data["state"] = [
        "over limit" if s >= lim else "forecast over" if fc > lim else "within"
        for s, lim, fc in zip(data.spend_usd, data.limit_usd, data.forecast_usd, strict=True)
    ]
    colours = alt.Scale(domain=["within", "forecast over", "over limit"], range=[GOOD, WARN, BAD])
    base = alt.Chart(data).encode(y=alt.Y("budget_id:N", title=None, sort=None))
    limit = base.mark_bar(color="#e5e7eb").encode(x=alt.X("limit_usd:Q", title="USD"))
    spend = base.mark_bar(height=14).encode(
        x="spend_usd:Q",
        color=alt.Color("state:N", scale=colours, title=None, legend=alt.Legend(orient="bottom")),
        tooltip=[
            alt.Tooltip("budget_id:N"),
            alt.Tooltip("spend_usd:Q", title="spend", format="$,.2f"),
            alt.Tooltip("limit_usd:Q", title="limit", format="$,.2f"),
            alt.Tooltip("pct_used:Q", title="% used", format=".1f"),
            alt.Tooltip("forecast_usd:Q", title="forecast", format="$,.2f"),
        ],
    )
    forecast = base.mark_tick(color="#111827", thickness=2, size=22).encode(x="forecast_usd:Q")
    return alt.layer(
        limit, spend, forecast, title=_title("Spend against limit (tick: forecast at period end)")
    ).properties(height=alt.Step(30))


def waterfall(spans: pd.DataFrame) -> alt.Chart:
    """A trace as a waterfall: one bar per span from its start to its end, in ms from the
    run's start; failed spans in red."""
    data = spans.copy()
    data["colour_key"] = [
        "failed" if failed else kind for kind, failed in zip(data.kind, data.is_failed, strict=True)
    ]
    palette = {**ENTITY_COLOURS, "failed": BAD}
    data["cost"] = data["cost_usd"].astype(float)
    # Instant spans (a policy check) still get a visible sliver.
    sliver = max(1.0, float(data["end_ms"].max()) * 0.004)
    data["bar_end_ms"] = data[["end_ms"]].max(axis=1).clip(lower=data["start_ms"] + sliver)
    order = list(data["label"])
    return (
        alt.Chart(data)
        .mark_bar(cornerRadius=2)
        .encode(
            y=alt.Y("label:N", sort=order, title=None, axis=alt.Axis(labelLimit=360)),
            x=alt.X("start_ms:Q", title="ms since run start"),
            x2="bar_end_ms:Q",
            color=alt.Color(
                "colour_key:N",
                scale=scale(data["colour_key"], palette),
                title=None,
                legend=alt.Legend(orient="bottom"),
            ),
            tooltip=[
                alt.Tooltip("kind:N"),
                alt.Tooltip("name:N"),
                alt.Tooltip("start_ms:Q", title="start (ms)", format=",.0f"),
                alt.Tooltip("duration_ms:Q", title="duration (ms)", format=",.0f"),
                alt.Tooltip("total_tokens:Q", title="tokens", format=",.0f"),
                alt.Tooltip("cost:Q", title="cost", format="$,.6f"),
                alt.Tooltip("error:N"),
            ],
        )
        .properties(height=alt.Step(22))
    )
