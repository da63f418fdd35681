"""Who sees what, through Streamlit's AppTest on the fixture warehouse (tenants acme, globex,
initech): signed-out and unknown visitors see a page and nothing else, a viewer of one tenant
sees that tenant's figures only, a link to another tenant's run shows "not found", and the
local-use mode says so and shows nothing on a shared address."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from streamlit import config as st_config

from tests.app.conftest import APP, frame, metric, scalar, usd

pytestmark = pytest.mark.slow

AUTH = {
    "auth": {
        "redirect_uri": "http://127.0.0.1:8501/oauth2callback",
        "cookie_secret": "test-cookie-secret",
        "client_id": "agentops-dashboard",
        "client_secret": "test-client-secret",
        "server_metadata_url": "http://127.0.0.1:1/.well-known/openid-configuration",
    }
}
ACCESS = """\
session_max_age: 1h
rules:
  - email: ana@acme.example
    tenants: [acme]
  - group: platform
    tenants: "*"
  - email: fin@acme.example
    tenants: [acme]
    pages: [cost, budgets]
"""


def signed_in(email: str, age_s: int = 60, **claims: Any) -> dict[str, Any]:
    return {"is_logged_in": True, "email": email, "iat": int(time.time()) - age_s, **claims}


@pytest.fixture
def signin(page, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Run a page with sign-in configured and the access file above."""
    path = tmp_path / "access.yaml"
    path.write_text(ACCESS)
    monkeypatch.setenv("AGENTOPS_ACCESS_FILE", str(path))

    def run(data: Path, name: str, user: dict[str, Any], **query: str):
        return page(data, name, secrets=AUTH, user=user, **query)

    return run


def shows_no_data(at) -> None:
    assert not at.metric and not at.dataframe and not at.sidebar.selectbox
    assert [s for s in at.sidebar.selectbox if s.key == "tenant"] == []


def test_signed_out_visitors_see_the_sign_in_page_only(warehouse_dir: Path, signin) -> None:
    at = signin(warehouse_dir, "overview", {"is_logged_in": False})
    assert [t.value for t in at.subheader] == ["Sign in"]
    assert [b.label for b in at.button] == ["Sign in"]
    shows_no_data(at)
    # A deep link while signed out: the same page, nothing of the run.
    run_id = scalar(warehouse_dir, "select min(run_id) from marts.fct_runs")
    at = signin(warehouse_dir, "overview", {"is_logged_in": False}, tenant="acme", run=run_id)
    assert [t.value for t in at.subheader] == ["Sign in"]
    shows_no_data(at)
    # A session older than session_max_age (1h) signs in again.
    at = signin(warehouse_dir, "overview", signed_in("ana@acme.example", age_s=3601))
    assert [t.value for t in at.subheader] == ["Sign in again"]
    shows_no_data(at)
    # An identity without an issue time cannot be aged: signed in again too.
    at = signin(warehouse_dir, "overview", {"is_logged_in": True, "email": "ana@acme.example"})
    assert [t.value for t in at.subheader] == ["Sign in again"]
    shows_no_data(at)


def test_a_bad_access_file_shows_its_line_and_nothing_else(
    warehouse_dir: Path, page, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "access.yaml"
    path.write_text("rules:\n  - email: ana@acme.example\n    tenants: [acme]\n    page: [cost]\n")
    monkeypatch.setenv("AGENTOPS_ACCESS_FILE", str(path))
    at = page(warehouse_dir, "overview", secrets=AUTH, user=signed_in("ana@acme.example"))
    assert [e.value for e in at.error] == [
        f"The dashboard cannot decide who may see what: {path}, line 4: unknown key `page` in "
        "a rule; write one of email, group, pages, tenants"
    ]
    shows_no_data(at)


def test_a_user_in_no_access_row_sees_no_access(warehouse_dir: Path, signin) -> None:
    at = signin(warehouse_dir, "overview", signed_in("mallory@elsewhere.example"))
    assert [t.value for t in at.subheader] == ["No access"]
    assert "mallory@elsewhere.example" in at.markdown[0].value
    assert [b.label for b in at.button] == ["Sign out"]
    shows_no_data(at)
    # An e-mail in the file that the provider marks unverified is nobody.
    at = signin(warehouse_dir, "overview", signed_in("ana@acme.example", email_verified=False))
    assert [t.value for t in at.subheader] == ["No access"]


def test_a_viewer_of_one_tenant_sees_only_its_figures(warehouse_dir: Path, signin) -> None:
    data = warehouse_dir
    at = signin(data, "overview", signed_in("ana@acme.example"), range="All time")
    tenant_filter = [s for s in at.sidebar.selectbox if s.key == "tenant"][0]
    assert tenant_filter.options == ["acme"]
    runs = scalar(data, "select count(*) from marts.fct_runs where tenant_id = 'acme'")
    everyone = scalar(data, "select count(*) from marts.fct_runs")
    assert 0 < runs < everyone
    assert metric(at, "Runs") == f"{runs:,}"
    spend = scalar(data, "select sum(cost_usd) from marts.fct_model_calls where tenant_id = 'acme'")
    assert metric(at, "Spend (by call time)") == usd(spend)
    # A platform group member sees every tenant.
    at = signin(data, "overview", signed_in("pat@x.example", groups=["platform"]), range="All time")
    assert metric(at, "Runs") == f"{everyone:,}"
    # Budgets and data health: acme's rows, and nothing without a tenant (loads).
    at = signin(data, "budgets", signed_in("ana@acme.example"))
    assert set(frame(at, "budget_id", "spend_usd").tenant_id) == {"acme"}
    at = signin(data, "data_health", signed_in("ana@acme.example"))
    events = scalar(data, "select count(*) from marts.fct_events where tenant_id = 'acme'")
    assert metric(at, "Events in the warehouse") == f"{events:,}"
    assert (metric(at, "Loads"), metric(at, "Lines quarantined")) == ("0", "0")


def test_a_link_to_another_tenants_run_shows_not_found(warehouse_dir: Path, signin) -> None:
    run_id = scalar(
        warehouse_dir, "select min(run_id) from marts.fct_runs where tenant_id = 'globex'"
    )
    at = signin(warehouse_dir, "traces", signed_in("ana@acme.example"), tenant="globex", run=run_id)
    assert [w.value.split(".")[0] for w in at.warning] == ["**Not found"]
    assert not at.metric and not at.dataframe
    assert run_id not in " ".join(m.value for m in [*at.markdown, *at.caption])
    # The same link opens the run for someone who sees globex.
    at = signin(warehouse_dir, "traces", signed_in("p@x.example", groups=["platform"]),
                tenant="globex", run=run_id)  # fmt: skip
    assert not at.warning
    assert list(frame(at, "run_id", "run_status").run_id) == [run_id]


def test_pages_the_access_file_does_not_grant_are_not_offered(warehouse_dir: Path, signin):
    at = signin(warehouse_dir, "cost", signed_in("fin@acme.example"))
    assert [t.value for t in at.title] == ["Cost"]
    # The default page is the first one granted: Cost.
    at = signin(warehouse_dir, "overview", signed_in("fin@acme.example"))
    assert [t.value for t in at.title] == ["Cost"]


def test_local_use_without_sign_in(
    warehouse_dir: Path, page, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = page(warehouse_dir, "overview")
    assert [i.value.split(":")[0] for i in at.info][:1] == ["**Local use"]
    assert "127.0.0.1 only" in at.info[0].value
    # Listening elsewhere without sign-in: nothing but the refusal.
    from streamlit.testing.v1 import AppTest

    st_config.set_option("server.address", "0.0.0.0")
    try:
        at = AppTest.from_file(str(APP), default_timeout=60).run()
    finally:
        st_config.set_option("server.address", "127.0.0.1")
    assert not at.exception
    assert len(at.error) == 1 and "listens on `0.0.0.0`, so it shows nothing" in at.error[0].value
    assert not at.metric and not at.dataframe and not at.sidebar.selectbox
    # Started with --insecure-allow-remote: shown, under a warning that says to whom.
    monkeypatch.setenv("AGENTOPS_INSECURE_ALLOW_REMOTE", "1")
    st_config.set_option("server.address", "0.0.0.0")
    try:
        at = AppTest.from_file(str(APP), default_timeout=60).run()
    finally:
        st_config.set_option("server.address", "127.0.0.1")
    assert [w.value.split(":**")[0] for w in at.warning] == ["**No sign-in"]
    assert "anyone who can reach `0.0.0.0` sees every tenant" in at.warning[0].value
    assert metric(at, "Runs")
