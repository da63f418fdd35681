"""What every page shares: formatting, the page header with "data as of", the auto-refresh
interval, empty states and the boundary that turns a warehouse problem into a message."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pandas as pd
import streamlit as st

from app import access
from app.filters import FilterInputs, Filters, window
from app.queries import connection as db
from app.queries import headline


def _refresh_seconds() -> float:
    """Seconds between automatic refreshes of a page's body (0 turns them off)."""
    try:
        return max(0.0, float(os.environ.get("AGENTOPS_DASHBOARD_REFRESH", "60")))
    except ValueError:
        return 60.0  # a typo in the variable must not take the dashboard down


REFRESH_SECONDS = _refresh_seconds()

FIRST_EVENT_HELP = """\
**How to send the first event**

- From files: `agentops-wh load events.jsonl` (one JSON event per line, see
  `schemas/agent-event-v0.schema.json`), then `agentops-wh build`.
- Over HTTP: start `agentops-wh serve` and `POST /v1/events` with one event or NDJSON
  (OpenAPI at `/docs`), then `agentops-wh build`.
- Just looking? `agentops-wh generate --out events/` writes realistic synthetic telemetry
  (or `make demo` does everything).
"""


# ---- formatting ----------------------------------------------------------------------------


def usd(value: Decimal | float | int | None, places: int = 2) -> str:
    """Money for display, rounded half up from the exact DECIMAL: `$1,234.57`."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "unpriced"
    exact = Decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    sign = "-" if exact < 0 else ""
    return f"{sign}${abs(exact):,.{places}f}"


UNIT_DIGITS = 5  # significant digits of a unit cost (per call, per run): $0.011051, $115.16


def unit_usd(value: Decimal | float | int | None) -> str:
    """A unit cost (per call, per run) to UNIT_DIGITS significant digits: `$0.011051`.

    Totals (spend, limits, forecasts) are `usd`, to the cent."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "unpriced"
    d = Decimal(value)
    if d == 0:
        return "$0.00"
    exp = min(-2, d.adjusted() - (UNIT_DIGITS - 1))
    exact = d.quantize(Decimal(1).scaleb(exp), rounding=ROUND_HALF_UP)
    sign = "-" if exact < 0 else ""
    return f"{sign}${abs(exact):,.{-exp}f}"


def integer(value: Any) -> str:
    return "0" if value is None or pd.isna(value) else f"{int(value):,}"


def percent(value: float | None, places: int = 1) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{100 * value:.{places}f}%"


def latency_unit(*values: float | None) -> str:
    """One unit for latencies shown together: s once any reaches 10 s, else ms."""
    known = [v for v in values if v is not None and not pd.isna(v)]
    return "s" if known and max(known) >= 10_000 else "ms"


def millis(value: float | None, unit: str | None = None) -> str:
    """A latency in `unit` (default: the one `latency_unit` picks for it alone)."""
    if value is None or pd.isna(value):
        return "n/a"
    unit = unit or latency_unit(value)
    return f"{value:,.0f} ms" if unit == "ms" else f"{value / 1000:,.1f} s"


def ago(ts: datetime | None, now: datetime | None = None) -> str:
    if ts is None:
        return "never"
    seconds = ((now or datetime.now(UTC)) - ts).total_seconds()
    if seconds < 0:
        return "just now"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit} ago"
    return f"{seconds:.0f} s ago"


def when(ts: datetime | None) -> str:
    return "n/a" if ts is None or pd.isna(ts) else f"{pd.Timestamp(ts):%Y-%m-%d %H:%M} UTC"


def change(current: Any, previous: Any) -> str | None:
    """Relative change for a metric's delta, e.g. "+12.3%"; None without a base."""
    if previous in (None, 0) or current is None:
        return None
    rel = (Decimal(str(current)) - Decimal(str(previous))) / Decimal(str(previous))
    return f"{float(rel) * 100:+.1f}%"


def point_change(current: float | None, previous: float | None) -> str | None:
    if current is None or previous is None:
        return None
    return f"{(current - previous) * 100:+.1f} pp"


def share(part: Decimal, whole: Decimal) -> float | None:
    return float(part / whole) if whole else None


# ---- the page frame ------------------------------------------------------------------------


def remember(inputs: FilterInputs) -> None:
    st.session_state["_filter_inputs"] = inputs


def current() -> tuple[db.Warehouse | None, Filters]:
    """The warehouse as of now and the filters, with a relative window moved to the newest
    data: what a page body (re-run by its refresh fragment) should show."""
    wh = db.warehouse()
    inputs: FilterInputs | None = st.session_state.get("_filter_inputs")
    f = inputs.filters if inputs else Filters()
    if wh is not None and inputs is not None and inputs.preset != "custom":
        try:
            latest = headline.summary(wh).get("latest_event_at")
        except db.WarehouseError:
            latest = None
        start, end, label = window(inputs.preset, inputs.dates, latest, datetime.now(UTC))
        f = Filters(start, end, f.tenant, f.workspace, f.project, f.agent, label)
    return wh, f


def describe(f: Filters) -> str:
    parts = [f.label]
    parts += [f"{k.removesuffix('_id')} {v}" for k, v in f.dims().items()]
    return " · ".join(parts)


def header(title: str, f: Filters | None, wh: db.Warehouse | None, note: str = "") -> None:
    """Title, what the page is filtered to, and how fresh the data is."""
    st.title(title)
    bits = []
    if f is not None:
        bits.append(describe(f))
    if wh is not None:
        try:
            s = headline.summary(wh)
        except db.WarehouseError:
            s = {}
        latest = s.get("latest_event_at")
        bits.append(
            f"data as of {when(latest)} (latest event) · warehouse published "
            f"{when(wh.published_at)}, {ago(wh.published_at)}"
        )
    if REFRESH_SECONDS > 0:
        bits.append(f"refreshes every {REFRESH_SECONDS:g} s")
    if note:
        bits.append(note)
    st.caption(" · ".join(bits))


def missing_warehouse() -> None:
    path = db.warehouse_path()
    st.info(
        f"**No warehouse yet.** The dashboard reads the published warehouse at `{path}`, "
        "and there is none. `agentops-wh build` publishes it from the events loaded so far "
        f"(`AGENTOPS_DATA_DIR` sets the data folder).\n\n{FIRST_EVENT_HELP}",
        icon=":material/database:",
    )


def no_events() -> None:
    st.info(
        "**The warehouse has no events yet.** It was built, but nothing had been loaded. "
        f"\n\n{FIRST_EVENT_HELP}",
        icon=":material/inbox:",
    )


def nothing_in_window(what: str, f: Filters) -> None:
    hint = (
        "Widen the time range (for example *All time*) or clear a filter in the sidebar."
        if f.start is not None or f.dims()
        else ""
    )
    st.info(f"No {what} for {describe(f)}. {hint}", icon=":material/filter_alt_off:")


@contextmanager
def guard() -> Iterator[None]:
    """Show a warehouse problem as a message that says what to do, never a traceback."""
    try:
        yield
    except db.WarehouseError as exc:
        st.error(str(exc), icon=":material/error:")


def ready(wh: db.Warehouse | None) -> bool:
    """Render the missing-warehouse or no-events state; True when there is data to show."""
    if wh is None:
        missing_warehouse()
        return False
    try:
        events = headline.summary(wh).get("events") or 0
    except db.WarehouseError as exc:
        st.error(str(exc), icon=":material/error:")
        return False
    if events == 0:
        no_events()
        return False
    return True


def refreshing(body: Callable[[], None]) -> Callable[[], None]:
    """Run `body` in a fragment that re-runs itself every REFRESH_SECONDS."""
    run_every = REFRESH_SECONDS if REFRESH_SECONDS > 0 else None

    def refresh() -> None:
        if access.session_over():
            st.rerun(scope="app")  # the entry script then asks to sign in again
        # On a full run the entry script's connection is reused; a refresh opens its own.
        with db.reading(db.warehouse()):
            body()

    return st.fragment(refresh, run_every=run_every)


def chart(where: Any, chart: Any) -> None:
    """Draw an Altair chart in `where` (st, a column, ...).

    The spec goes to Streamlit without Altair's jsonschema validation, which costs more per
    chart than the query behind it; tests/app/test_charts.py validates every chart builder.
    """
    where.vega_lite_chart(chart.to_dict(validate=False), width="stretch")


def trace_link(tenant_id: str, run_id: str) -> str:
    """A relative link to the Traces page for a run, keeping the current filters.

    Run ids are per tenant, so the link names the run's tenant too (it also becomes the
    tenant filter of the page it opens)."""
    from urllib.parse import urlencode

    from app.filters import link_params

    return "traces?" + urlencode(link_params({"tenant": tenant_id, "run": run_id}), doseq=True)


def trace_links(rows: Any) -> list[str]:
    """`trace_link` for every row of a frame with tenant_id and run_id columns."""
    return [trace_link(t, r) for t, r in zip(rows.tenant_id, rows.run_id, strict=True)]


def budget_link(tenant_id: str, budget_id: str | None) -> str | None:
    """A relative link to the Budgets page on one budget. Budget ids are per tenant, so the
    link names the tenant too, as the links in alert messages do."""
    from urllib.parse import urlencode

    if not budget_id:
        return None
    return "budgets?" + urlencode({"tenant": tenant_id, "budget_id": budget_id})


def money_column(label: str, places: int = 2) -> Any:
    """A total (spend, limit, forecast) in dollars and cents."""
    return st.column_config.NumberColumn(label, format="dollar" if places == 2 else f"$%.{places}f")


def unit_cost_column(label: str) -> Any:
    """A unit cost (per call, per run) to UNIT_DIGITS significant digits."""
    return st.column_config.NumberColumn(label, format=f"$%.{UNIT_DIGITS}g")


EM_DASH = "\u2014"


def _text_or_missing(value: Any) -> bool:
    return value is None or isinstance(value, str) or (isinstance(value, float) and pd.isna(value))


def _is_text(values: pd.Series) -> bool:
    if isinstance(values.dtype, pd.StringDtype):
        return True
    return values.dtype == object and bool(values.map(_text_or_missing).all())


def time_column(label: str) -> Any:
    return st.column_config.DatetimeColumn(label, format="YYYY-MM-DD HH:mm:ss", timezone="UTC")


def _label(column: str) -> str:
    text = column.removesuffix("_usd").removesuffix("_at").removesuffix("_id")
    text = text.removeprefix("is_").replace("_", " ")
    if column.endswith("_at"):
        text += " (UTC)"
    return text


def table(df: pd.DataFrame, key: str, config: dict[str, Any] | None = None, **kwargs: Any):
    """`st.dataframe` with the same column formats on every page: money columns (`*_usd`)
    in dollars, times (`*_at`) in UTC, counts with thousands separators, readable labels.
    `config` overrides a column's default."""
    defaults: dict[str, Any] = {}
    df = df.copy()
    # One latency unit per table: seconds once any latency reaches 10 s.
    latency = [str(c) for c in df.columns if str(c).endswith("_ms")]
    seconds = latency and latency_unit(*(df[c].max() for c in latency)) == "s"
    for column in df.columns:
        if str(column).endswith("_ms"):
            df[column] = df[column] / 1000 if seconds else df[column]
            defaults[str(column)] = st.column_config.NumberColumn(
                _label(str(column)).removesuffix(" ms") + (" (s)" if seconds else " (ms)"),
                format="%.1f" if seconds else "localized",
            )
        elif _is_text(df[column]):
            # Never a literal None (or nan): an em dash.
            df[column] = df[column].astype(object).where(df[column].notna(), EM_DASH)
    labels = [_label(str(c)) for c in df.columns]
    for column, label in zip(df.columns, labels, strict=True):
        name = str(column)
        if labels.count(label) > 1:  # scope and scope_id: keep them apart
            label = name.replace("_", " ")
        dtype = df[column].dtype
        if name in defaults:
            continue
        if name.endswith("_usd"):
            unit = any(part in name for part in ("per_", "avg_", "unit_"))
            defaults[name] = unit_cost_column(label) if unit else money_column(label)
        elif name.endswith("_at") or pd.api.types.is_datetime64_any_dtype(dtype):
            defaults[name] = time_column(label)
        elif pd.api.types.is_integer_dtype(dtype) and not name.endswith("_ms"):
            defaults[name] = st.column_config.NumberColumn(label, format="localized")
        elif pd.api.types.is_bool_dtype(dtype):
            defaults[name] = st.column_config.CheckboxColumn(label)
        else:
            defaults[name] = label
    for name, override in (config or {}).items():
        if isinstance(override, str) and isinstance(defaults.get(name), dict):
            defaults[name] = {**defaults[name], "label": override}  # relabel, keep the format
        else:
            defaults[name] = override
    kwargs.setdefault("hide_index", True)
    return st.dataframe(df, key=key, column_config=defaults, **kwargs)
