"""Provider statements (invoices): read, validated, and kept as reference data for dbt.

`agentops-wh reconcile import FILE [--provider P]` takes a provider's statement as CSV with
the columns `date, provider, amount_usd` and optionally `model` (any order; a header line
first): one line per UTC usage day, provider and, optionally, model, with the amount the
provider bills for it. A file that breaks a rule is refused whole, every problem named by its
line (the header is line 1), its field and what to write instead.

Every import is kept, as history, in `$AGENTOPS_DATA_DIR/reference/statements.parquet`
(dbt source `reference.statements`): one row per statement line, stamped with the import's
`statement_id` (a digest of its normalised lines, so the same statement gives the same id
whatever the file's name, line order or spelling of the provider) and its `import_seq`
(1, 2, ... in import order). Importing a statement already imported changes nothing. A
statement for provider-days that an earlier one covered replaces it for those days (the
warehouse reads, per provider and day, the lines of the latest import that covers it); the
earlier lines stay in the file as history.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ingestion.fsync import write_parquet_atomic
from ingestion.validation.names import normalise_name

REQUIRED = ("date", "provider", "amount_usd")
OPTIONAL = ("model",)
# amount_usd is DECIMAL(38, 24) in the warehouse, as every amount of money.
PLACES = 24
AMOUNT_MAX = Decimal(10) ** (38 - PLACES)

SCHEMA = pa.schema(
    [
        pa.field("statement_id", pa.string(), nullable=False),
        pa.field("import_seq", pa.int64(), nullable=False),
        pa.field("imported_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("source_file", pa.string(), nullable=False),
        pa.field("source_line", pa.int64(), nullable=False),
        pa.field("usage_date", pa.date32(), nullable=False),
        pa.field("provider", pa.string(), nullable=False),
        pa.field("model", pa.string()),
        pa.field("amount_usd", pa.decimal128(38, PLACES), nullable=False),
    ]
)


@dataclass(frozen=True)
class Line:
    """One valid statement line: names normalised, `model` None for a provider-day total."""

    usage_date: date
    provider: str
    model: str | None
    amount_usd: Decimal
    line: int


@dataclass(frozen=True)
class Problem:
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        if self.field in ("header", "file"):
            return f"{self.field}: {self.message}"
        return f"line {self.line}, {self.field}: {self.message}"


class StatementError(ValueError):
    """The statement is refused; `problems` lists every line and field at fault."""

    def __init__(self, source: str, problems: list[Problem]):
        self.source = source
        self.problems = problems
        listed = "\n".join(f"  {source} {p}" for p in problems)
        super().__init__(
            f"the statement {source} is refused ({len(problems)} problem(s)); nothing was "
            f"imported; fix it and import again:\n{listed}"
        )


@dataclass(frozen=True)
class ImportResult:
    statement_id: str
    lines: int
    provider_days: int
    replaced_provider_days: int
    already_imported: bool
    path: Path

    def summary(self) -> str:
        if self.already_imported:
            return (
                f"statement {self.statement_id[:12]} was already imported; nothing changed "
                f"({self.path})"
            )
        replaced = (
            f", replacing an earlier statement for {self.replaced_provider_days} of them"
            if self.replaced_provider_days
            else ""
        )
        return (
            f"imported statement {self.statement_id[:12]}: {self.lines} line(s) over "
            f"{self.provider_days} provider-day(s){replaced}; run `agentops-wh build` to "
            f"reconcile ({self.path})"
        )


def _amount(text: str, line: int, out: list[Problem]) -> Decimal | None:
    example = "write the billed amount in USD as a plain number, e.g. 12.34"
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite():
        shown = repr(text) if text else "empty"
        out.append(Problem(line, "amount_usd", f"{shown} is not a number; {example}"))
        return None
    if abs(value) >= AMOUNT_MAX or -value.as_tuple().exponent > PLACES:  # type: ignore[operator]
        out.append(
            Problem(
                line,
                "amount_usd",
                f"{text!r} does not fit DECIMAL(38, {PLACES}); write at most "
                f"{38 - PLACES} digits before the point and {PLACES} after",
            )
        )
        return None
    return value


def _date(text: str, line: int, out: list[Problem]) -> date | None:
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        shown = repr(text) if text else "empty"
        out.append(
            Problem(line, "date", f"{shown} is not a date; write the UTC usage day as YYYY-MM-DD")
        )
        return None


def parse_statement(
    text: str, source: str = "statement.csv", provider: str | None = None
) -> list[Line]:
    """The lines of a statement's text; raises StatementError naming every problem.

    `provider`: the statement's provider (`--provider`); a line may then leave its provider
    empty, and a line naming another provider is refused.
    """
    expected = f"{', '.join(REQUIRED)} (optional: {', '.join(OPTIONAL)})"
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    header = next(reader, None)
    if header is None:
        raise StatementError(
            source,
            [Problem(1, "header", f"the file is empty; the first line must name {expected}")],
        )
    names = [h.strip().lower() for h in header]
    missing = [c for c in REQUIRED if c not in names]
    extra = [n for n in names if n not in REQUIRED + OPTIONAL]
    twice = sorted({n for n in names if names.count(n) > 1})
    if missing or extra or twice:
        parts = []
        if missing:
            parts.append(f"missing column(s) {', '.join(missing)}")
        if extra:
            parts.append(f"unknown column(s) {', '.join(repr(e) for e in extra)}")
        if twice:
            parts.append(f"column(s) {', '.join(twice)} given twice")
        raise StatementError(
            source, [Problem(1, "header", f"{'; '.join(parts)}; the columns are {expected}")]
        )
    wanted = normalise_name(provider) if provider else None
    problems: list[Problem] = []
    lines: list[Line] = []
    first: dict[tuple[date, str, str | None], int] = {}
    line = reader.line_num
    for raw in reader:
        row_line, line = line + 1, reader.line_num
        if not raw or all(not v.strip() for v in raw):
            continue
        if len(raw) != len(names):
            problems.append(
                Problem(
                    row_line,
                    "row",
                    f"{len(raw)} values for {len(names)} columns; write one per column",
                )
            )
            continue
        values = {n: v.strip() for n, v in zip(names, raw, strict=True)}
        before = len(problems)
        usage_date = _date(values["date"], row_line, problems)
        name = normalise_name(values["provider"]) or wanted
        if not name:
            problems.append(
                Problem(
                    row_line,
                    "provider",
                    "empty; write the provider, e.g. openai (or pass --provider)",
                )
            )
        elif wanted and name != wanted:
            problems.append(
                Problem(
                    row_line,
                    "provider",
                    f"{values['provider']!r} is not {provider!r} given by --provider; a "
                    "statement is one provider's: split the file or leave --provider out",
                )
            )
        amount = _amount(values["amount_usd"], row_line, problems)
        model = normalise_name(values.get("model") or "") or None
        if len(problems) > before or usage_date is None or amount is None or not name:
            continue
        key = (usage_date, name, model)
        if key in first:
            what = f"model {model}" if model else "provider total"
            problems.append(
                Problem(
                    row_line,
                    "date",
                    f"{usage_date} {name} ({what}) is already on line {first[key]}; write one "
                    "line per day, provider and model",
                )
            )
            continue
        first[key] = row_line
        lines.append(Line(usage_date, name, model, amount, row_line))
    totals = {(ln.usage_date, ln.provider): ln.line for ln in lines if ln.model is None}
    for ln in lines:
        if ln.model is not None and (ln.usage_date, ln.provider) in totals:
            problems.append(
                Problem(
                    ln.line,
                    "model",
                    f"{ln.usage_date} {ln.provider} has a total on line "
                    f"{totals[ln.usage_date, ln.provider]} and model lines; bill a day either "
                    "as one total (model empty) or per model, not both",
                )
            )
    if not lines and not problems:
        problems.append(Problem(2, "file", "no statement lines; write at least one"))
    if problems:
        raise StatementError(source, problems)
    return lines


def statement_id(lines: list[Line]) -> str:
    """A digest of the normalised lines: the same statement, whatever its file looks like."""
    canonical = sorted(
        f"{ln.usage_date.isoformat()}|{ln.provider}|{ln.model or ''}|{ln.amount_usd.normalize()}"
        for ln in lines
    )
    return hashlib.sha256("\n".join(canonical).encode()).hexdigest()


def statements_path(base: Path) -> Path:
    """Where dbt's `reference.statements` source reads the imported statements."""
    return base / "reference" / "statements.parquet"


def import_statement(
    base: Path, path: Path, provider: str | None = None, now: datetime | None = None
) -> ImportResult:
    """Validate the statement at `path` and add it to the statements history under `base`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StatementError(str(path), [Problem(0, "file", "not found; check the path")]) from None
    except UnicodeDecodeError as exc:
        raise StatementError(
            str(path), [Problem(0, "file", f"not UTF-8 ({exc.reason}); save it as UTF-8")]
        ) from None
    lines = parse_statement(text, str(path), provider)
    sid = statement_id(lines)
    dest = statements_path(base)
    history = pq.read_table(dest).to_pylist() if dest.exists() else []
    days = {(ln.provider, ln.usage_date) for ln in lines}
    if any(row["statement_id"] == sid for row in history):
        return ImportResult(sid, len(lines), len(days), 0, True, dest)
    replaced = {(r["provider"], r["usage_date"]) for r in history} & days
    seq = max((r["import_seq"] for r in history), default=0) + 1
    at = (now or datetime.now(UTC)).astimezone(UTC)
    new = [
        {
            "statement_id": sid,
            "import_seq": seq,
            "imported_at": at,
            "source_file": path.name,
            "source_line": ln.line,
            "usage_date": ln.usage_date,
            "provider": ln.provider,
            "model": ln.model,
            "amount_usd": ln.amount_usd,
        }
        for ln in lines
    ]
    write_parquet_atomic(pa.Table.from_pylist(history + new, schema=SCHEMA), dest)
    return ImportResult(sid, len(lines), len(days), len(replaced), False, dest)


def _cmd_import(args: argparse.Namespace) -> int:
    from ingestion.settings import data_dir

    try:
        result = import_statement(data_dir(), Path(args.file), args.provider)
    except StatementError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    print(result.summary())
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser(
        "reconcile",
        help="import provider statements (invoices) to reconcile against the ledger",
        description="Provider statements, reconciled per provider and UTC day in "
        "marts.fct_cost_reconciliation after the next build.",
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    imp = actions.add_parser(
        "import",
        help="import a statement CSV: date, provider, amount_usd (optional model)",
        description="Import a provider statement CSV with the columns date (UTC usage day, "
        "YYYY-MM-DD), provider, amount_usd and optionally model. The same statement imported "
        "again changes nothing; a statement for provider-days already imported replaces the "
        "earlier one for those days (kept as history).",
    )
    imp.add_argument("file", metavar="FILE", help="the statement CSV")
    imp.add_argument(
        "--provider",
        metavar="P",
        help="the statement's provider: lines may leave provider empty; others are refused",
    )
    imp.set_defaults(func=_cmd_import)
