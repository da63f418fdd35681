"""The dashboard over two tenants that use the same ids and names (tests/two_tenants.py)."""

from __future__ import annotations

import pytest

from tests.app.conftest import frame, metric, usd
from tests.two_tenants import SHARED, TENANTS, Corpus, price

pytestmark = pytest.mark.slow


def test_dashboard_filtered_to_one_tenant_shows_only_its_rows(two_tenants: Corpus, page) -> None:
    corpus = two_tenants
    for tenant in TENANTS:
        want = [e for e in corpus.events[tenant] if "model_call" in e]
        at = page(corpus.data_dir, "overview", range="Last 24 hours", tenant=tenant)
        assert metric(at, "Model calls") == f"{len(want):,}"
        assert metric(at, "Spend (by call time)") == usd(sum(price(e) for e in want))
        # A trace link names the tenant, and opens that tenant's run.
        at = page(corpus.data_dir, "traces", tenant=tenant, run="run-1")
        assert metric(at, "Model calls") == "2"
        runs = frame(at, "run_id", "run_status")
        assert set(runs.tenant_id) == {tenant}
    # The project name both tenants use: picked without a tenant, it says so.
    at = page(corpus.data_dir, "overview", range="Last 24 hours", project=SHARED["project_id"])
    warnings = [w.value for w in at.sidebar.warning]
    assert any("acme, zeta" in w for w in warnings), warnings


def test_data_health_shows_the_reused_model_call_id(two_tenants: Corpus, page) -> None:
    at = page(two_tenants.data_dir, "data_health")
    assert metric(at, "Reused ids") == "1"
    listed = frame(at, "id_kind", "winning_event_id")
    assert list(zip(listed.tenant_id, listed.event_id, listed.winning_event_id, strict=True)) == [
        ("zeta", "evt-0-reused", "evt-0-2")
    ]


def test_budgets_page_shows_the_budgets_the_filters_concern(two_tenants: Corpus, page) -> None:
    """Each tenant budgets the project name both use: a tenant's view lists its own budget
    only; the shared name picked without a tenant lists both (the sidebar warns)."""

    def listed(**query: str) -> list[str]:
        at = page(two_tenants.data_dir, "budgets", **query)
        return sorted(frame(at, "budget_id", "spend_usd").budget_id)

    assert listed() == ["acme-support", "zeta-support"]
    for tenant in TENANTS:
        assert listed(tenant=tenant) == [f"{tenant}-support"]
        assert listed(tenant=tenant, project=SHARED["project_id"]) == [f"{tenant}-support"]
    assert listed(project=SHARED["project_id"]) == ["acme-support", "zeta-support"]
    assert listed(tenant="acme", agent="researcher") == ["acme-support"]
