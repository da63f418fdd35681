"""AgentOps Warehouse dashboard: `agentops-wh dashboard` (or `streamlit run app/streamlit_app.py
--server.address 127.0.0.1`).

The entry point decides who is looking first (app/access.py: sign-in, the access file's grant,
or local use), records the viewer's tenants for every query (app/queries/connection.py), then
renders what every page shares (the sidebar filters, bound to the URL so a view is a link) and
routes to the pages in app/app_pages/ the viewer may open, with `st.navigation`.
"""

from __future__ import annotations

import streamlit as st

from app import access, filters, ui
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

grant = access.viewer()  # stops the run at the sign-in or no-access page
db.set_viewer_tenants(grant.tenants)
allowed = {
    # The default page's url_path is "" (the site root): it is the Overview.
    section: [p for p in pages if grant.may_open(p.url_path or "overview")]
    for section, pages in PAGES.items()
}
page = st.navigation({section: pages for section, pages in allowed.items() if pages})
if access.foreign_tenant(grant) is not None:
    st.title(page.title)
    st.warning(
        "**Not found.** This link names a tenant you may not see, or none that exists.",
        icon=":material/search_off:",
    )
    st.stop()

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
