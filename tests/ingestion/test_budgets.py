"""The budgets file: every refusal names the line, the field and what to write instead; a
valid file becomes the Parquet that dbt's `reference.budgets` source reads."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from ingestion.reference.budgets import (
    BUDGETS_FILE_ENV,
    SAMPLE_BUDGETS_FILE,
    Budget,
    BudgetsFileError,
    budgets_file,
    parse_budgets,
    read_budgets,
    reference_path,
    write_budgets_reference,
)
from ingestion.synthetic.generator import GeneratorConfig, generate_events
from orchestration.warehouse.build import BuildError, refresh_reference

HEADER = "budget_id,tenant_id,scope,scope_id,period,limit_usd,thresholds,enforcement,destination"
GOOD = 'acme-daily,acme,tenant,,daily,25.00,"50,80,100",alert,slack:#acme-finance'


def refused(*rows: str, header: str = HEADER) -> list[str]:
    """The problems `parse_budgets` names for a file of `rows`, as the user reads them."""
    with pytest.raises(BudgetsFileError) as caught:
        parse_budgets("\n".join([header, *rows]) + "\n", "budgets.csv")
    assert str(caught.value).startswith("the budgets file budgets.csv is refused")
    return [str(p) for p in caught.value.problems]


def test_a_valid_file_parses_with_decimal_money_and_defaults() -> None:
    text = "\n".join(
        [
            HEADER,
            GOOD,
            " zeta-support , zeta , project , shared-support , weekly , 100.5 , , block , ",
            'acme-bot,acme,agent,acme-reviewer,monthly,0.000000000001,"100, 50",alert,'
            "email:finance@acme.example",
            "",
            "globex-ws,globex,workspace,globex-prod,daily,7,1000,alert,webhook:ops-pager",
        ]
    )
    assert parse_budgets(text) == [
        Budget("acme-daily", "acme", "tenant", "acme", "daily", Decimal("25.00"),
               (50, 80, 100), "alert", "slack:#acme-finance", 2),
        Budget("zeta-support", "zeta", "project", "shared-support", "weekly", Decimal("100.5"),
               (50, 80, 100), "block", None, 3),
        Budget("acme-bot", "acme", "agent", "acme-reviewer", "monthly",
               Decimal("0.000000000001"), (50, 100), "alert", "email:finance@acme.example", 4),
        Budget("globex-ws", "globex", "workspace", "globex-prod", "daily", Decimal(7), (1000,),
               "alert", "webhook:ops-pager", 6),
    ]  # fmt: skip


# --- one test per refusal -------------------------------------------------------------------


def test_unknown_scope_is_refused() -> None:
    assert refused(GOOD, "b,acme,team,t1,daily,1,,alert,") == [
        "line 3, scope: 'team' is not one of tenant, workspace, project, agent; write one"
    ]


def test_negative_limit_is_refused() -> None:
    assert refused("b,acme,tenant,,daily,-5,,alert,") == [
        "line 2, limit_usd: '-5' is negative; write the limit in USD as a plain number >= 0, "
        "e.g. 25.00"
    ]


def test_non_numeric_limit_is_refused() -> None:
    assert refused("b,acme,tenant,,daily,$25,,alert,", "c,acme,tenant,,daily,NaN,,alert,") == [
        "line 2, limit_usd: '$25' is not a number; write the limit in USD as a plain number "
        ">= 0, e.g. 25.00",
        "line 3, limit_usd: 'NaN' is not a number; write the limit in USD as a plain number "
        ">= 0, e.g. 25.00",
    ]


def test_limit_beyond_decimal_38_24_is_refused() -> None:
    assert refused("b,acme,tenant,,daily,0.0000000000000000000000001,,alert,") == [
        "line 2, limit_usd: '0.0000000000000000000000001' does not fit DECIMAL(38, 24); "
        "write at most 14 digits before the point and 24 after"
    ]


def test_threshold_over_1000_is_refused() -> None:
    assert refused('b,acme,tenant,,daily,1,"50,1001",alert,') == [
        "line 2, thresholds: 1001 is outside 1..1000; write percents of the limit from 1 to "
        '1000, e.g. "50,80,100"'
    ]


def test_non_integer_threshold_is_refused() -> None:
    assert refused('b,acme,tenant,,daily,1,"50,80.5",alert,') == [
        "line 2, thresholds: '80.5' is not a whole number; write whole percents of the limit "
        'from 1 to 1000, comma-separated, e.g. "50,80,100" (empty: 50,80,100)'
    ]


def test_negative_threshold_is_refused() -> None:
    assert refused('b,acme,tenant,,daily,1,"-50,80",alert,') == [
        "line 2, thresholds: '-50' is negative; write whole percents of the limit "
        'from 1 to 1000, comma-separated, e.g. "50,80,100" (empty: 50,80,100)'
    ]


def test_zero_threshold_is_refused() -> None:
    assert refused('b,acme,tenant,,daily,1,"0,80",alert,') == [
        "line 2, thresholds: 0 is outside 1..1000; write percents of the limit from 1 to "
        '1000, e.g. "50,80,100"'
    ]


def test_budget_id_used_twice_is_refused() -> None:
    other_tenant = "acme-daily,zeta,tenant,,daily,5,,alert,"
    assert refused(GOOD, "x,acme,tenant,,weekly,1,,alert,", other_tenant) == [
        "line 4, budget_id: 'acme-daily' is already used on line 2; give each budget its own id"
    ]


def test_missing_tenant_id_is_refused() -> None:
    assert refused("b,,project,acme-prod-support,daily,1,,alert,") == [
        "line 2, tenant_id: empty; write the tenant the budget belongs to, e.g. acme"
    ]


def test_missing_budget_id_is_refused() -> None:
    assert refused(",acme,tenant,,daily,1,,alert,") == [
        "line 2, budget_id: empty; write an id unique in the file"
    ]


@pytest.mark.parametrize(
    "destination",
    ["#acme-finance", "slack:acme-finance", "sms:+15551234", "webhook:", "email:finance"],
)
def test_destination_that_is_not_a_route_is_refused(destination: str) -> None:
    assert refused(f"b,acme,tenant,,daily,1,,alert,{destination}") == [
        f"line 2, destination: {destination!r} is not a route; write slack:#channel, "
        "webhook:NAME or email:ADDRESS, or leave it empty for the default route"
    ]


def test_unknown_period_is_refused() -> None:
    assert refused("b,acme,tenant,,hourly,1,,alert,") == [
        "line 2, period: 'hourly' is not one of daily, weekly, monthly; write one"
    ]


def test_unknown_enforcement_is_refused() -> None:
    assert refused("b,acme,tenant,,daily,1,,warn,", "c,acme,tenant,,daily,1,,,") == [
        "line 2, enforcement: 'warn' is not one of alert, block; write one",
        "line 3, enforcement: empty is not one of alert, block; write one",
    ]


def test_empty_scope_id_of_a_non_tenant_scope_is_refused() -> None:
    assert refused("b,acme,project,,daily,1,,alert,") == [
        "line 2, scope_id: empty; write the project id (within tenant acme) the budget covers"
    ]


def test_tenant_scope_id_other_than_its_tenant_is_refused() -> None:
    assert parse_budgets(f"{HEADER}\nb,acme,tenant,acme,daily,1,,alert,\n")[0].scope_id == "acme"
    assert refused("b,acme,tenant,globex,daily,1,,alert,") == [
        "line 2, scope_id: 'globex' differs from tenant_id 'acme'; a tenant budget covers its "
        "own tenant: leave scope_id empty"
    ]


def test_missing_column_is_refused() -> None:
    old_header = "budget_id,scope,scope_id,period,limit_usd,thresholds,enforcement,destination"
    assert refused("acme-daily,tenant,acme,daily,25.00,,alert,", header=old_header) == [
        "header: missing column(s) tenant_id; the first line must be: budget_id, tenant_id, "
        "scope, scope_id, period, limit_usd, thresholds, enforcement, destination"
    ]


def test_extra_column_is_refused() -> None:
    assert refused(GOOD + ",x", header=HEADER + ",owner") == [
        "header: unknown column(s) 'owner'; the first line must be: budget_id, tenant_id, "
        "scope, scope_id, period, limit_usd, thresholds, enforcement, destination"
    ]


def test_row_with_more_values_than_columns_is_refused() -> None:
    assert refused("b,acme,tenant,,daily,1,50,80,alert,") == [
        "line 2, row: 10 values for 9 columns; write one value per column (quote a comma list "
        'of thresholds: "50,80,100")'
    ]


def test_every_problem_of_a_file_is_named_at_once() -> None:
    problems = refused(GOOD, "b,,tenant,,daily,-1,2000,alert,fax:1", "c,acme,team,x,daily,1,,x,")
    assert [p.split(":")[0] for p in problems] == [
        "line 3, tenant_id",
        "line 3, limit_usd",
        "line 3, thresholds",
        "line 3, destination",
        "line 4, scope",
        "line 4, enforcement",
    ]


def test_a_missing_file_is_refused_with_the_variable_to_set(tmp_path: Path) -> None:
    with pytest.raises(BudgetsFileError) as caught:
        read_budgets(tmp_path / "nope.csv")
    assert str(caught.value.problems[0]) == (
        f"file: not found; point ${BUDGETS_FILE_ENV} at your budgets CSV "
        f"(or unset it for the sample {SAMPLE_BUDGETS_FILE})"
    )


# --- the reference file -----------------------------------------------------------------------


def test_the_budgets_file_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(BUDGETS_FILE_ENV, raising=False)
    assert budgets_file() == SAMPLE_BUDGETS_FILE
    mine = tmp_path / "mine.csv"
    mine.write_text(f"{HEADER}\nz,zeta,project,p,weekly,12.345,,block,\n")
    monkeypatch.setenv(BUDGETS_FILE_ENV, str(mine))
    assert budgets_file() == mine
    path = write_budgets_reference(tmp_path / "data")
    assert path == reference_path(tmp_path / "data")
    assert pq.read_table(path).to_pylist() == [
        {
            "budget_id": "z", "tenant_id": "zeta", "scope": "project", "scope_id": "p",
            "period": "weekly", "limit_usd": Decimal("12.345000000000000000000000"),
            "thresholds": [50, 80, 100], "enforcement": "block", "destination": None,
            "source_line": 2,
        }
    ]  # fmt: skip
    assert [p.name for p in path.parent.iterdir()] == ["budgets.parquet"]  # no temp file left


def test_a_refused_file_stops_the_build_and_keeps_the_last_reference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = tmp_path / "data"
    monkeypatch.delenv(BUDGETS_FILE_ENV, raising=False)
    path, *_ = refresh_reference(base)
    before = path.read_bytes()
    bad = tmp_path / "bad.csv"
    bad.write_text(f"{HEADER}\nb,acme,tenant,,daily,-5,,alert,\n")
    monkeypatch.setenv(BUDGETS_FILE_ENV, str(bad))
    with pytest.raises(BuildError, match=r"line 2, limit_usd: '-5' is negative"):
        refresh_reference(base)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == [
        "budgets.parquet",
        "committed_loads.parquet",
        "model_refs.parquet",
        "quarantine_files.parquet",
    ], "no temporary file left"


def test_sample_budgets_cover_scopes_the_demo_data_has() -> None:
    """`make demo` generates seed 42, three tenants: every sample budget has spend there."""
    config = GeneratorConfig.last_days(1, now=datetime(2026, 11, 20, tzinfo=UTC), seed=42)
    seen: set[tuple[str, str, str]] = set()
    for event in generate_events(config):
        t = event["tenant"]
        seen |= {
            (t["tenant_id"], "tenant", t["tenant_id"]),
            (t["tenant_id"], "workspace", t["workspace_id"]),
            (t["tenant_id"], "project", t["project_id"]),
            (t["tenant_id"], "agent", event["run"]["agent_id"]),
        }
    budgets = read_budgets(SAMPLE_BUDGETS_FILE)
    assert {b.scope for b in budgets} == {"tenant", "workspace", "project", "agent"}
    assert [b.budget_id for b in budgets if (b.tenant_id, b.scope, b.scope_id) not in seen] == []
