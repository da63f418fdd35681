"""AgentOps Warehouse dashboard: `agentops-wh dashboard` (or `streamlit run app/streamlit_app.py`).

The entry point renders what every page shares (the sidebar filters, bound to the URL so a
view is a link) and routes to the pages in app/app_pages/ with `st.navigation`.
"""

from __future__ import annotations

import streamlit as st

from app import filters, ui
from app.queries import connection as db
from app.queries import headline

st.set_page_config(
    page_title="AgentOps Warehouse",
    page_icon=":material/monitoring:",
    layout="wide",
)

PAGES = {
    "Operations": [
        st.Page("app_pages/overview.py", title="Overview", icon=":material/dashboard:",
                url_path="home", default=True),
        st.Page("app_pages/failures.py", title="Failures", icon=":material/error:",
                url_path="failures"),
        st.Page("app_pages/traces.py", title="Traces", icon=":material/account_tree:",
                url_path="traces"),
    ],
    "Finance": [
        st.Page("app_pages/cost.py", title="Cost", icon=":material/payments:", url_path="cost"),
        st.Page("app_pages/budgets.py", title="Budgets", icon=":material/savings:",
                url_path="budgets"),
    ],
    "Security and data": [
        st.Page("app_pages/governance.py", title="Governance", icon=":material/policy:",
                url_path="governance"),
        st.Page("app_pages/data_health.py", title="Data health", icon=":material/health_metrics:",
                url_path="data-health"),
    ],
    # The default page is served at `/`; this makes `/overview` a link to it too (every page
    # is reachable by its name), without a second entry in the menu.
    "": [
        st.Page("app_pages/overview.py", title="Overview", icon=":material/dashboard:",
                url_path="overview", visibility="hidden"),
    ],
}  # fmt: skip

page = st.navigation(PAGES)

wh = db.warehouse()
with db.reading(wh):  # one read-only connection for this run's uncached queries
    dims, latest = None, None
    if wh is not None:
        try:
            dims = headline.dimension_values(wh)
            latest = headline.summary(wh).get("latest_event_at")
        except db.WarehouseError:
            dims = None  # the page explains; the filters just have nothing to offer
    if dims is not None:
        ui.remember(filters.sidebar(dims, latest))
    else:
        st.session_state.pop("_filter_inputs", None)
        st.sidebar.caption("Filters appear once the warehouse has data.")

    page.run()
