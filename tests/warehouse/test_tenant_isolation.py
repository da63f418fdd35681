"""Two tenants that happen to use the same ids and names never see, drop or pay for each other
(the corpus: tests/two_tenants.py): every mart, the ledger, data quality and trace look-ups,
per tenant, against figures computed in Python."""

from __future__ import annotations

from collections import Counter, defaultdict
from decimal import Decimal
from typing import Any

import pytest

from tests.two_tenants import NOW, RUNS, TENANTS, Corpus, price, rows, run_events, ts

pytestmark = pytest.mark.slow


@pytest.fixture
def corpus(two_tenants: Corpus) -> Corpus:
    return two_tenants


def test_loaders_count_no_duplicates_across_tenants(corpus: Corpus) -> None:
    per_run = len(run_events("acme", 0))
    s = corpus.file_summary
    assert (s.accepted, s.duplicates, s.conflicting_duplicates) == (2 * 2 * per_run, 0, 0)
    assert (s.conflicting_model_calls, s.conflicting_run_completions) == (0, 0)
    for answer in corpus.http_answers.values():
        assert (answer["accepted"], answer["duplicates"]) == ((RUNS - 2) * per_run, 0)


def test_every_event_of_both_tenants_is_in_the_marts(corpus: Corpus) -> None:
    got = dict(rows(corpus, "select tenant_id, count(*) from marts.fct_events group by 1"))
    # zeta's reused call is an event of its own (kept in fct_events, not priced)
    assert got == {"acme": len(corpus.events["acme"]), "zeta": len(corpus.events["zeta"]) + 1}
    shared = rows(
        corpus,
        "select count(distinct tenant_id) from marts.fct_events where event_id = 'evt-0-0'",
    )
    assert shared == [(2,)]
    for table, n_per_tenant in [
        ("fct_failures", {"zeta": RUNS // 2}),
        ("fct_policy_decisions", {"acme": RUNS, "zeta": RUNS}),
    ]:
        got = dict(rows(corpus, f"select tenant_id, count(*) from marts.{table} group by 1"))
        assert got == n_per_tenant, table
    blocked = rows(
        corpus,
        "select tenant_id, count(*) from marts.fct_policy_decisions "
        "where decision = 'block' group by 1",
    )
    assert blocked == [("zeta", RUNS)]


def test_model_calls_and_ledger_per_tenant_equal_calc_price(corpus: Corpus) -> None:
    for tenant, evs in corpus.events.items():
        want = {e["model_call"]["model_call_id"]: price(e) for e in evs if "model_call" in e}
        assert len(want) == 2 * RUNS
        calls = dict(
            rows(
                corpus,
                "select model_call_id, cost_usd from marts.fct_model_calls where tenant_id = ?",
                [tenant],
            )
        )
        assert calls == want, tenant
        ledger = dict(
            rows(
                corpus,
                "select model_call_id, sum(cost_usd) from marts.fct_cost_ledger "
                "where tenant_id = ? group by 1",
                [tenant],
            )
        )
        assert ledger == want, tenant
        daily = rows(
            corpus,
            "select sum(cost_usd) from marts.agg_usage_daily where tenant_id = ?",
            [tenant],
        )
        assert daily == [(sum(want.values()),)], tenant
    # ledger entry ids never collide although the call ids are the same
    (n, distinct) = rows(
        corpus, "select count(*), count(distinct ledger_entry_id) from marts.fct_cost_ledger"
    )[0]
    assert n == distinct == 2 * 2 * RUNS


def test_runs_per_tenant_have_their_own_numbers(corpus: Corpus) -> None:
    want: dict[tuple[str, str], dict[str, Any]] = defaultdict(
        lambda: {"calls": 0, "tokens": 0, "cost": Decimal(0), "status": "succeeded"}
    )
    for tenant, evs in corpus.events.items():
        for e in evs:
            r = want[(tenant, e["run"]["run_id"])]
            if "model_call" in e:
                u = e["resource_usage"]
                r["calls"] += 1
                r["tokens"] += u["input_tokens"] + u["output_tokens"]
                r["cost"] += price(e)
            if e["event_type"] == "run.failed":
                r["status"] = "failed"
    got = {
        (t, r): {"calls": n, "tokens": tok, "cost": cost, "status": status}
        for t, r, n, tok, cost, status in rows(
            corpus,
            "select tenant_id, run_id, model_calls, total_tokens, cost_usd, run_status "
            "from marts.fct_runs",
        )
    }
    assert got == dict(want)
    steps = rows(corpus, "select distinct steps, tool_calls from marts.fct_runs")
    assert steps == [(1, 1)]


def test_a_reused_model_call_id_is_counted_listed_and_priced_once(corpus: Corpus) -> None:
    s = corpus.conflict_summary
    assert (s.accepted, s.duplicates, s.conflicting_model_calls) == (1, 0, 1)
    listed = rows(
        corpus,
        "select tenant_id, id_kind, conflicting_id, event_id, winning_event_id "
        "from data_quality.dq_conflicting_ids",
    )
    assert listed == [("zeta", "model_call", "mc-0-0", "evt-0-reused", "evt-0-2")]
    priced = rows(
        corpus,
        "select event_id, input_tokens from marts.fct_model_calls "
        "where tenant_id = 'zeta' and model_call_id = 'mc-0-0'",
    )
    assert priced == [("evt-0-2", run_events("zeta", 0)[2]["resource_usage"]["input_tokens"])]
    assert rows(corpus, "select count(*) from data_quality.dq_duplicate_events") == [(0,)]


def test_traces_and_spans_are_looked_up_within_a_tenant(corpus: Corpus, monkeypatch) -> None:
    from app.queries import connection, traces

    monkeypatch.setenv("AGENTOPS_DATA_DIR", str(corpus.data_dir))
    wh = connection.warehouse()
    for tenant in TENANTS:
        run = traces.run_detail(wh, tenant, "run-1")
        assert run["tenant_id"] == tenant
        spans = traces.run_spans(wh, tenant, "run-1")
        # run, step, two model calls, tool call, policy: one span each, this tenant's only
        assert Counter(spans.kind) == {
            "run": 1,
            "step": 1,
            "model call": 2,
            "tool call": 1,
            "policy": 1,
        }
        want = sum(price(e) for e in run_events(tenant, 1) if "model_call" in e)
        assert spans.cost_usd.dropna().map(Decimal).sum() == want
        assert set(spans.decision.dropna()) == {"block" if tenant == "zeta" else "allow"}
    assert traces.run_detail(wh, "nobody", "run-1") == {}


def test_budgets_match_only_their_own_tenants_spend(corpus: Corpus) -> None:
    """Both tenants budget a project they both named `acme-prod-support`: each budget sees
    its own tenant's spend, and each token's budget check sees its own budgets only."""
    midnight = NOW.replace(hour=0, minute=0, second=0)
    spend = {
        tenant: sum(
            (price(e) for e in evs if "model_call" in e and e["occurred_at"] >= ts(midnight)),
            Decimal(0),
        )
        for tenant, evs in corpus.events.items()
    }
    got = dict(
        rows(
            corpus,
            "select tenant_id, spend_usd from marts.budget_status where period_kind = 'current'",
        )
    )
    assert got == spend
    acme, zeta = corpus.budget_checks["acme"], corpus.budget_checks["zeta"]
    assert [(b["budget_id"], b["tenant_id"]) for b in zeta["budgets"]] == [("zeta-support", "zeta")]
    assert (zeta["allowed"], zeta["blocking"]) == (True, [])
    assert Decimal(zeta["budgets"][0]["spend_usd"]) == spend["zeta"]
    assert [b["budget_id"] for b in acme["budgets"]] == ["acme-support"]
    assert Decimal(acme["budgets"][0]["spend_usd"]) == spend["acme"]
    assert (acme["allowed"], acme["blocking"]) == (
        spend["acme"] < Decimal("0.01"),
        (["acme-support"] if spend["acme"] >= Decimal("0.01") else []),
    )
