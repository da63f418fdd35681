"""The sidebar filters every page shares: time range, tenant, workspace, project and agent.

Each widget is bound to a URL query parameter (`bind="query-params"`), so the address bar
always holds the current view and a link reproduces it. The time logic is pure and tested
without Streamlit.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta

import pandas as pd
import streamlit as st

HOUR = timedelta(hours=1)

# key -> (label, length of the window); None: all time, or the custom dates below.
PRESETS: dict[str, tuple[str, timedelta | None]] = {
    "24h": ("Last 24 hours", timedelta(hours=24)),
    "7d": ("Last 7 days", timedelta(days=7)),
    "30d": ("Last 30 days", timedelta(days=30)),
    "90d": ("Last 90 days", timedelta(days=90)),
    "all": ("All time", None),
    "custom": ("Custom dates", None),
}
DEFAULT_PRESET = "7d"

# Query parameter names: short, stable, part of the shareable URL. The time range travels
# as its label (`?range=Last+30+days`): that is how Streamlit binds a selectbox to the URL.
DIMENSIONS = (
    ("tenant", "tenant_id", "Tenant"),
    ("workspace", "workspace_id", "Workspace"),
    ("project", "project_id", "Project"),
    ("agent", "agent_id", "Agent"),
)


@dataclass(frozen=True)
class Filters:
    """What every query is restricted to. Times are UTC; `end` is exclusive; None is open."""

    start: datetime | None = None
    end: datetime | None = None
    tenant: str | None = None
    workspace: str | None = None
    project: str | None = None
    agent: str | None = None
    label: str = "All time"

    def dims(self) -> dict[str, str]:
        """Column -> value of the dimension filters that are set."""
        values = {
            "tenant_id": self.tenant,
            "workspace_id": self.workspace,
            "project_id": self.project,
            "agent_id": self.agent,
        }
        return {k: v for k, v in values.items() if v}

    def previous(self) -> Filters | None:
        """The window of the same length just before this one (for "change vs previous")."""
        if self.start is None or self.end is None:
            return None
        span = self.end - self.start
        return replace(self, start=self.start - span, end=self.start, label="previous period")

    def grain(self, data_span: tuple[datetime, datetime] | None = None) -> str:
        """Time-series bucket: hours for windows up to three days, days beyond."""
        start, end = self.start, self.end
        if (start is None or end is None) and data_span is not None:
            start, end = start or data_span[0], end or data_span[1]
        if start is None or end is None:
            return "day"
        return "hour" if end - start <= timedelta(days=3) else "day"


@dataclass(frozen=True)
class FilterInputs:
    """The sidebar's raw choices with the filters they gave: a refresh recomputes a relative
    window from them when newer data arrives."""

    preset: str
    dates: tuple[date, ...] | None
    filters: Filters


def floor_hour(ts: datetime) -> datetime:
    return ts.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def window(
    preset: str,
    dates: tuple[date, ...] | None,
    latest_event_at: datetime | None,
    now: datetime,
) -> tuple[datetime | None, datetime | None, str]:
    """(start, end, label) of a preset, in whole UTC hours so hourly aggregates match facts.

    Relative windows end at the hour after the latest event when the data stops before now
    (a warehouse fed in batches, or a replayed data set): "last 7 days" then means the last
    7 days of data, and the label says so, instead of an empty page.
    """
    if preset == "custom":
        if not dates:
            return None, None, "All time"
        first = dates[0]
        last = dates[-1] if len(dates) > 1 else dates[0]
        start = datetime.combine(first, time(), tzinfo=UTC)
        end = datetime.combine(last, time(), tzinfo=UTC) + timedelta(days=1)
        return start, end, f"{first:%Y-%m-%d} to {last:%Y-%m-%d} (UTC)"
    label, length = PRESETS.get(preset, PRESETS[DEFAULT_PRESET])
    if length is None:
        return None, None, label
    anchor = now
    if latest_event_at is not None and latest_event_at < now:
        anchor = latest_event_at
    end = floor_hour(anchor) + HOUR
    if anchor is latest_event_at and now - latest_event_at > HOUR:
        label = f"{label} of data (up to {end:%Y-%m-%d %H:%M} UTC)"
    return end - length, end, label


def cascade_options(dims: pd.DataFrame, chosen: dict[str, str | None]) -> dict[str, list[str]]:
    """Options of each dimension filter, narrowed by the filters above it.

    `dims` has one row per (tenant_id, workspace_id, project_id, agent_id) seen.
    """
    out: dict[str, list[str]] = {}
    rows = dims
    for key, column, _label in DIMENSIONS:
        if rows.empty or column not in rows:
            out[key] = []
            continue
        out[key] = sorted(str(v) for v in rows[column].dropna().unique())
        value = chosen.get(key)
        if value and value in out[key]:
            rows = rows[rows[column] == value]
    return out


def tenants_of_choice(dims: pd.DataFrame, chosen: dict[str, str | None]) -> list[str]:
    """The tenants whose rows match the chosen workspace, project and agent.

    Names are the tenant's own: two tenants may both have a project `support`. When no
    tenant is chosen, a name that only one tenant uses selects that tenant; a name several
    use must not silently add their figures together, so the sidebar says which they are.
    """
    rows = dims
    for key, column, _label in DIMENSIONS[1:]:
        value = chosen.get(key)
        if value and column in rows:
            rows = rows[rows[column] == value]
    if rows.empty or "tenant_id" not in rows:
        return []
    return sorted(str(v) for v in rows["tenant_id"].dropna().unique())


def sidebar(
    dims: pd.DataFrame, latest_event_at: datetime | None, now: datetime | None = None
) -> FilterInputs:
    """Render the filter widgets in the sidebar and return the filters they describe."""
    now = now or datetime.now(UTC)
    sb = st.sidebar
    sb.header("Filters")
    preset = sb.selectbox(
        "Time range",
        list(PRESETS),
        index=list(PRESETS).index(DEFAULT_PRESET),
        format_func=lambda k: PRESETS[k][0],
        key="range",
        bind="query-params",
    )
    dates: tuple[date, ...] | None = None
    if preset == "custom":
        picked = sb.date_input("Dates (UTC)", value=[], key="dates", bind="query-params")
        dates = tuple(picked) if isinstance(picked, list | tuple) else (picked,)
    start, end, label = window(preset, dates, latest_event_at, now)

    chosen: dict[str, str | None] = {}
    for key, _column, _label in DIMENSIONS:
        # Before a widget's first render its value is still only in the URL.
        chosen[key] = st.session_state.get(key) or st.query_params.get(key)
    options = cascade_options(dims, chosen)
    for key, _column, title in DIMENSIONS:
        opts = options[key]
        # A value that the filters above no longer allow (or a stale link) is dropped.
        if st.session_state.get(key) is not None and st.session_state.get(key) not in opts:
            st.session_state[key] = None
        chosen[key] = sb.selectbox(
            title,
            opts,
            index=None,
            placeholder=f"All {title.lower()}s",
            key=key,
            bind="query-params",
        )
    tenant = chosen["tenant"]
    if not tenant and any(chosen[key] for key, _c, _l in DIMENSIONS[1:]):
        owners = tenants_of_choice(dims, chosen)
        if len(owners) == 1:
            tenant = owners[0]
        elif len(owners) > 1:
            sb.warning(
                f"Tenants {', '.join(owners)} each use these names; the figures add them "
                "up. Pick a tenant to see one.",
                icon=":material/warning:",
            )
    filters = Filters(
        start=start,
        end=end,
        tenant=tenant,
        workspace=chosen["workspace"],
        project=chosen["project"],
        agent=chosen["agent"],
        label=label,
    )
    return FilterInputs(preset, dates, filters)


def link_params(extra: dict[str, str] | None = None) -> dict[str, str | list[str]]:
    """The current view's filter parameters plus `extra`: for links that keep the view.

    Read from the widgets' state: during a run, `st.query_params` may still hold the values
    from before the interaction that started it.
    """
    params: dict[str, str | list[str]] = {}
    preset = st.session_state.get("range")
    if preset in PRESETS and preset != DEFAULT_PRESET:
        params["range"] = PRESETS[preset][0]  # a bound selectbox's URL value is its label
    dates = st.session_state.get("dates")
    if preset == "custom" and dates:
        params["dates"] = [d.isoformat() for d in dates]
    for key, _column, _label in DIMENSIONS:
        value = st.session_state.get(key)
        if value:
            params[key] = value
    params.update(extra or {})
    return params
