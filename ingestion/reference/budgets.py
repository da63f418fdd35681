"""The budgets file: read, validated, and written as reference data for dbt.

Budgets are what users set at run time, so they live outside the dbt project: a CSV named by
`$AGENTOPS_BUDGETS_FILE` (the shipped sample, `schemas/examples/budgets.csv`, when unset) with the
columns of `COLUMNS`. Every build refreshes `$AGENTOPS_DATA_DIR/reference/budgets.parquet`
from it (`write_budgets_reference`) before dbt runs; dbt reads that file as the source
`reference.budgets`. A bad file is refused before the build, every problem named by its line,
its field and what to write instead, so the previous warehouse stays published.

A budget belongs to one tenant: its `scope_id` is an id within `tenant_id`, and its spend is
that tenant's only.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ingestion.fsync import fsync_and_rename
from ingestion.settings import PROJECT_ROOT

BUDGETS_FILE_ENV = "AGENTOPS_BUDGETS_FILE"
SAMPLE_BUDGETS_FILE = PROJECT_ROOT / "schemas" / "examples" / "budgets.csv"

COLUMNS = (
    "budget_id",
    "tenant_id",
    "scope",
    "scope_id",
    "period",
    "limit_usd",
    "thresholds",
    "enforcement",
    "destination",
)
SCOPES = ("tenant", "workspace", "project", "agent")
PERIODS = ("daily", "weekly", "monthly")
ENFORCEMENTS = ("alert", "block")
DEFAULT_THRESHOLDS = (50, 80, 100)
MAX_THRESHOLD = 1000
# limit_usd is DECIMAL(38, 24) in the warehouse, as every amount of money.
LIMIT_PLACES = 24
LIMIT_MAX = Decimal(10) ** (38 - LIMIT_PLACES)

_DESTINATION = re.compile(r"^(slack:#[^\s#]+|webhook:[A-Za-z0-9_.-]+|email:[^\s@]+@[^\s@]+)$")
_DESTINATION_HELP = (
    "write slack:#channel, webhook:NAME or email:ADDRESS, or leave it empty for the default route"
)

REFERENCE_SCHEMA = pa.schema(
    [
        pa.field("budget_id", pa.string(), nullable=False),
        pa.field("tenant_id", pa.string(), nullable=False),
        pa.field("scope", pa.string(), nullable=False),
        pa.field("scope_id", pa.string(), nullable=False),
        pa.field("period", pa.string(), nullable=False),
        pa.field("limit_usd", pa.decimal128(38, LIMIT_PLACES), nullable=False),
        pa.field("thresholds", pa.list_(pa.int32()), nullable=False),
        pa.field("enforcement", pa.string(), nullable=False),
        pa.field("destination", pa.string()),
        pa.field("source_line", pa.int64(), nullable=False),
    ]
)


@dataclass(frozen=True)
class Budget:
    """One valid row of the budgets file.

    `scope_id` of a tenant budget is its tenant_id (the file may leave it empty); thresholds
    are sorted integer percents; `destination` is None for the default route.
    """

    budget_id: str
    tenant_id: str
    scope: str
    scope_id: str
    period: str
    limit_usd: Decimal
    thresholds: tuple[int, ...]
    enforcement: str
    destination: str | None
    line: int


@dataclass(frozen=True)
class Problem:
    """Why one field of one line is refused, and what to write instead."""

    line: int
    field: str
    message: str

    def __str__(self) -> str:
        if self.field in ("header", "file"):
            return f"{self.field}: {self.message}"
        return f"line {self.line}, {self.field}: {self.message}"


class BudgetsFileError(ValueError):
    """The budgets file is refused; `problems` lists every line and field at fault."""

    def __init__(self, source: str, problems: list[Problem]):
        self.source = source
        self.problems = problems
        listed = "\n".join(f"  {source} {p}" for p in problems)
        super().__init__(
            f"the budgets file {source} is refused ({len(problems)} problem(s)); "
            f"fix it and build again:\n{listed}"
        )


def budgets_file() -> Path:
    """The budgets file in use: `$AGENTOPS_BUDGETS_FILE`, else the shipped sample."""
    named = os.environ.get(BUDGETS_FILE_ENV, "").strip()
    return Path(named).expanduser() if named else SAMPLE_BUDGETS_FILE


def _limit(text: str, line: int, out: list[Problem]) -> Decimal | None:
    example = "write the limit in USD as a plain number >= 0, e.g. 25.00"
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite():
        out.append(Problem(line, "limit_usd", f"{text!r} is not a number; {example}"))
        return None
    if value < 0:
        out.append(Problem(line, "limit_usd", f"{text!r} is negative; {example}"))
        return None
    if value >= LIMIT_MAX or -value.as_tuple().exponent > LIMIT_PLACES:  # type: ignore[operator]
        out.append(
            Problem(
                line,
                "limit_usd",
                f"{text!r} does not fit DECIMAL(38, {LIMIT_PLACES}); "
                f"write at most {38 - LIMIT_PLACES} digits before the point "
                f"and {LIMIT_PLACES} after",
            )
        )
        return None
    return value


def _thresholds(text: str, line: int, out: list[Problem]) -> tuple[int, ...]:
    if not text:
        return DEFAULT_THRESHOLDS
    found: set[int] = set()
    for part in (p.strip() for p in text.split(",")):
        if not re.fullmatch(r"\d+", part):
            what = "is negative" if re.fullmatch(r"-\d+(\.\d*)?", part) else "is not a whole number"
            out.append(
                Problem(
                    line,
                    "thresholds",
                    f"{part!r} {what}; write whole percents of the limit from 1 to "
                    f'{MAX_THRESHOLD}, comma-separated, e.g. "50,80,100" (empty: 50,80,100)',
                )
            )
            continue
        value = int(part)
        if not 1 <= value <= MAX_THRESHOLD:
            out.append(
                Problem(
                    line,
                    "thresholds",
                    f"{value} is outside 1..{MAX_THRESHOLD}; write percents of the limit "
                    f'from 1 to {MAX_THRESHOLD}, e.g. "50,80,100"',
                )
            )
            continue
        found.add(value)
    return tuple(sorted(found))


def _choice(value: str, field: str, allowed: tuple[str, ...], line: int, out: list[Problem]) -> str:
    if value not in allowed:
        shown = repr(value) if value else "empty"
        out.append(Problem(line, field, f"{shown} is not one of {', '.join(allowed)}; write one"))
    return value


def _row(values: dict[str, str], line: int, out: list[Problem]) -> Budget | None:
    before = len(out)
    budget_id, tenant_id = values["budget_id"], values["tenant_id"]
    if not budget_id:
        out.append(Problem(line, "budget_id", "empty; write an id unique in the file"))
    if not tenant_id:
        out.append(
            Problem(line, "tenant_id", "empty; write the tenant the budget belongs to, e.g. acme")
        )
    scope = _choice(values["scope"], "scope", SCOPES, line, out)
    scope_id = values["scope_id"]
    if scope == "tenant":
        if scope_id and tenant_id and scope_id != tenant_id:
            out.append(
                Problem(
                    line,
                    "scope_id",
                    f"{scope_id!r} differs from tenant_id {tenant_id!r}; a tenant budget "
                    "covers its own tenant: leave scope_id empty",
                )
            )
        scope_id = tenant_id
    elif scope in SCOPES and not scope_id:
        out.append(
            Problem(
                line,
                "scope_id",
                f"empty; write the {scope} id (within tenant {tenant_id or '?'}) the budget covers",
            )
        )
    period = _choice(values["period"], "period", PERIODS, line, out)
    limit = _limit(values["limit_usd"], line, out)
    thresholds = _thresholds(values["thresholds"], line, out)
    enforcement = _choice(values["enforcement"], "enforcement", ENFORCEMENTS, line, out)
    destination = values["destination"]
    if destination and not _DESTINATION.match(destination):
        out.append(
            Problem(line, "destination", f"{destination!r} is not a route; {_DESTINATION_HELP}")
        )
    if len(out) > before or limit is None:
        return None
    return Budget(
        budget_id=budget_id,
        tenant_id=tenant_id,
        scope=scope,
        scope_id=scope_id,
        period=period,
        limit_usd=limit,
        thresholds=thresholds,
        enforcement=enforcement,
        destination=destination or None,
        line=line,
    )


def parse_budgets(text: str, source: str = "budgets.csv") -> list[Budget]:
    """The budgets of a file's text; raises BudgetsFileError naming every problem."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    header = next(reader, None)
    expected = ", ".join(COLUMNS)
    if header is None:
        raise BudgetsFileError(
            source, [Problem(1, "header", f"the file is empty; the first line must be: {expected}")]
        )
    names = [h.strip() for h in header]
    missing = [c for c in COLUMNS if c not in names]
    extra = [n for n in names if n not in COLUMNS]
    twice = sorted({n for n in names if names.count(n) > 1})
    if missing or extra or twice:
        parts = []
        if missing:
            parts.append(f"missing column(s) {', '.join(missing)}")
        if extra:
            parts.append(f"unknown column(s) {', '.join(repr(e) for e in extra)}")
        if twice:
            parts.append(f"column(s) {', '.join(twice)} given twice")
        raise BudgetsFileError(
            source,
            [Problem(1, "header", f"{'; '.join(parts)}; the first line must be: {expected}")],
        )
    problems: list[Problem] = []
    budgets: list[Budget] = []
    first_line: dict[str, int] = {}
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
                    f"{len(raw)} values for {len(names)} columns; write one value per column "
                    '(quote a comma list of thresholds: "50,80,100")',
                )
            )
            continue
        values = {n: v.strip() for n, v in zip(names, raw, strict=True)}
        budget_id = values["budget_id"]
        if budget_id in first_line:
            problems.append(
                Problem(
                    row_line,
                    "budget_id",
                    f"{budget_id!r} is already used on line {first_line[budget_id]}; "
                    "give each budget its own id",
                )
            )
            continue
        if budget_id:
            first_line[budget_id] = row_line
        budget = _row(values, row_line, problems)
        if budget is not None:
            budgets.append(budget)
    if problems:
        raise BudgetsFileError(source, problems)
    return budgets


def read_budgets(path: Path | None = None) -> list[Budget]:
    """The budgets of `path` (default: `budgets_file()`), validated."""
    path = path or budgets_file()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BudgetsFileError(
            str(path),
            [
                Problem(
                    0,
                    "file",
                    f"not found; point ${BUDGETS_FILE_ENV} at your budgets CSV "
                    f"(or unset it for the sample {SAMPLE_BUDGETS_FILE})",
                )
            ],
        ) from None
    except UnicodeDecodeError as exc:
        raise BudgetsFileError(
            str(path), [Problem(0, "file", f"not UTF-8 ({exc.reason}); save it as UTF-8")]
        ) from None
    return parse_budgets(text, str(path))


def budgets_table(budgets: Iterable[Budget]) -> pa.Table:
    """Budgets in the columns of dbt's `reference.budgets` source."""
    rows = list(budgets)
    return pa.table(
        {
            "budget_id": [b.budget_id for b in rows],
            "tenant_id": [b.tenant_id for b in rows],
            "scope": [b.scope for b in rows],
            "scope_id": [b.scope_id for b in rows],
            "period": [b.period for b in rows],
            "limit_usd": [b.limit_usd for b in rows],
            "thresholds": [list(b.thresholds) for b in rows],
            "enforcement": [b.enforcement for b in rows],
            "destination": [b.destination for b in rows],
            "source_line": [b.line for b in rows],
        },
        schema=REFERENCE_SCHEMA,
    )


def reference_path(base: Path) -> Path:
    """Where dbt's `reference.budgets` source reads the budgets."""
    return base / "reference" / "budgets.parquet"


def write_budgets_reference(base: Path, source: Path | None = None) -> Path:
    """Validate the budgets file and write it as `reference/budgets.parquet` under `base`.

    Every build path (`agentops-wh build`, the demo, Dagster's `budgets_reference` asset) calls
    this before dbt runs. Atomic: written under a hidden temporary name that no glob of dbt
    matches, fsynced, renamed over the old file. A refused file writes nothing, so the
    refusal stops the build before dbt starts.
    """
    table = budgets_table(read_budgets(source))
    dest = reference_path(base)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.{os.getpid()}.tmp"
    try:
        pq.write_table(table, tmp, compression="zstd")
        fsync_and_rename(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dest
