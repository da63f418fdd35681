"""Provider statements: validation with line and field, history, idempotent re-import."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from ingestion.reference.statements import (
    StatementError,
    import_statement,
    parse_statement,
    statements_path,
)
from orchestration.cli import main

NOV = (
    "date,provider,amount_usd,model\n"
    "2026-11-01,OpenAI ,1.50,GPT-4o\n"
    "2026-11-01,openai,0.5,gpt-4o-mini\n"
    "2026-11-02,openai,2,\n"
)
DEC_1, DEC_2 = datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 2, tzinfo=UTC)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def rows(base: Path) -> list[dict]:
    return pq.read_table(statements_path(base)).to_pylist()


def test_lines_are_normalised() -> None:
    lines = parse_statement(NOV)
    assert [(ln.usage_date, ln.provider, ln.model, ln.amount_usd, ln.line) for ln in lines] == [
        (date(2026, 11, 1), "openai", "gpt-4o", Decimal("1.50"), 2),
        (date(2026, 11, 1), "openai", "gpt-4o-mini", Decimal("0.5"), 3),
        (date(2026, 11, 2), "openai", None, Decimal("2"), 4),
    ]


def test_bad_rows_are_refused_with_line_and_field() -> None:
    text = (
        "date,provider,amount_usd\n"
        "2026-11-01,openai,1\n"
        "2026-13-01,openai,1\n"
        "2026-11-02,,1\n"
        "2026-11-03,openai,one\n"
        "2026-11-01,OPENAI,2\n"
        "2026-11-04,openai\n"
    )
    with pytest.raises(StatementError) as err:
        parse_statement(text, "nov.csv")
    assert [(p.line, p.field) for p in err.value.problems] == [
        (3, "date"),
        (4, "provider"),
        (5, "amount_usd"),
        (6, "date"),
        (7, "row"),
    ]
    message = str(err.value)
    assert (
        "nov.csv line 3, date: '2026-13-01' is not a date; write the UTC usage day as YYYY-MM-DD"
    ) in message
    assert "line 6, date: 2026-11-01 openai (provider total) is already on line 2" in message


def test_a_day_is_a_total_or_model_lines() -> None:
    with pytest.raises(StatementError) as err:
        parse_statement(
            "date,provider,amount_usd,model\n2026-11-01,openai,1,\n2026-11-01,openai,1,gpt-4o\n"
        )
    assert [(p.line, p.field) for p in err.value.problems] == [(3, "model")]


def test_header_is_checked() -> None:
    expected = r"header: missing column\(s\) amount_usd; unknown column\(s\) 'cost'"
    with pytest.raises(StatementError, match=expected):
        parse_statement("date,provider,cost\n2026-11-01,openai,1\n")


def test_provider_option(tmp_path: Path) -> None:
    lines = parse_statement("date,provider,amount_usd\n2026-11-01,,1\n", provider="OpenAI")
    assert lines[0].provider == "openai"
    with pytest.raises(StatementError, match="line 2, provider: 'anthropic' is not 'openai'"):
        parse_statement("date,provider,amount_usd\n2026-11-01,anthropic,1\n", provider="openai")


def test_reimport_changes_nothing_and_correction_keeps_history(tmp_path: Path) -> None:
    base = tmp_path / "data"
    first = import_statement(base, write(tmp_path / "nov.csv", NOV), now=DEC_1)
    assert (first.lines, first.provider_days, first.replaced_provider_days) == (3, 2, 0)
    before = statements_path(base).read_bytes()
    # the same statement, lines reordered and spelled differently: the same statement id
    same = (
        "date,model,provider,amount_usd\n2026-11-02,,openai,2.00\n"
        "2026-11-01,gpt-4o-mini,openai,0.5\n2026-11-01,gpt-4o,openai,1.5\n"
    )
    again = import_statement(base, write(tmp_path / "copy.csv", same))
    assert again.already_imported and again.statement_id == first.statement_id
    assert statements_path(base).read_bytes() == before, "a re-import writes nothing"

    corrected = "date,provider,amount_usd\n2026-11-02,openai,2.25\n2026-11-03,openai,1\n"
    fix = import_statement(base, write(tmp_path / "fix.csv", corrected), now=DEC_2)
    assert (fix.already_imported, fix.provider_days, fix.replaced_provider_days) == (False, 2, 1)
    history = rows(base)
    got = [(r["import_seq"], str(r["usage_date"]), r["model"], r["amount_usd"]) for r in history]
    assert got == [
        (1, "2026-11-01", "gpt-4o", Decimal("1.5")),
        (1, "2026-11-01", "gpt-4o-mini", Decimal("0.5")),
        (1, "2026-11-02", None, Decimal("2")),
        (2, "2026-11-02", None, Decimal("2.25")),
        (2, "2026-11-03", None, Decimal("1")),
    ]


def test_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("AGENTOPS_DATA_DIR", str(tmp_path / "data"))
    good = write(tmp_path / "nov.csv", NOV)
    assert main(["reconcile", "import", str(good)]) == 0
    assert "imported statement" in capsys.readouterr().out
    assert main(["reconcile", "import", str(good)]) == 0
    assert "already imported; nothing changed" in capsys.readouterr().out
    bad = write(tmp_path / "bad.csv", "date,provider,amount_usd\n2026-11-01,openai,x\n")
    assert main(["reconcile", "import", str(bad), "--provider", "openai"]) == 2
    assert "line 2, amount_usd: 'x' is not a number" in capsys.readouterr().err
    assert len(rows(tmp_path / "data")) == 3
