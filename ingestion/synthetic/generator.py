"""Synthetic agent telemetry that looks like production: `agentops-wh generate`.

Every demo, test and benchmark needs realistic events at any scale, reproducibly. The
generator simulates tenants (workspaces, projects, agents, workflows) whose agents start runs
that take steps, call models and tools, hit guardrail policies, fail, retry, get cancelled or
are still running at the end of the window. Each run is one W3C trace: run span -> step spans
-> model call, tool call and policy spans.

Design choices, each for a reason:

- Deterministic: one `random.Random` seeded from `--seed` drives the world and the runs;
  invalid lines and duplicates come from a second, independent stream, so the valid events
  are the same whatever `--invalid-rate` and `--duplicate-rate` are. Ids derive from a hash
  of the options plus counters, so two different generations never share an `event_id`
  (the loader's idempotency key) while the same options always give the same bytes.
- Streaming: runs are simulated in start order and their events merged through a heap
  ordered by time, so the output is time-ordered (runs interleave as they would in a
  producer's stream) and memory holds only the runs in flight, whatever the volume.
- Valid means valid: every event written as valid passes `ingestion.validation.contract.check_line`;
  every invalid line has exactly one defect, whose reason code is `EXPECTED_REASON[kind]`.
- Invalid lines are *extra* lines (a corrupted copy of the event just written, under its own
  id), so the valid stream stays complete: run roll-ups reconcile with their model calls
  whatever the invalid rate, and quarantine still has one example of every defect.

Public API: `GeneratorConfig`, `generate_events` (valid event dicts, time-ordered),
`generate_lines` (serialized lines with their kind), `write_jsonl`, `post_ndjson`.
"""

from __future__ import annotations

import argparse
import gzip
import math
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from random import Random
from typing import Any

import orjson

from ingestion.producers.retry_after import parse_retry_after
from ingestion.synthetic.simulator import Simulator
from ingestion.synthetic.world import (
    DEFECTS,
    DUPLICATE,
    EVENTS_PER_RUN,
    VALID,
    GeneratorConfig,
    GeneratorError,
)
from ingestion.validation.contract import (
    DEFAULT_MAX_EVENT_BYTES,
)

# --------------------------------------------------------------------------------------------
# Public API


def generate_events(config: GeneratorConfig) -> Iterator[dict[str, Any]]:
    """Every valid event of the configured window, in time order (streamed, not listed)."""
    return Simulator(config).events()


def generate_lines(config: GeneratorConfig) -> Iterator[tuple[bytes, str]]:
    """Serialized lines (no newline) with their kind: VALID, DUPLICATE or a defect name.

    Each valid event may be followed by one invalid line (a corrupted copy under its own id;
    defects cycle through DEFECTS) and one exact re-emission of a recent valid line.
    """
    noise = Random(f"{config.seed}:noise")
    invalid_rate, duplicate_rate = config.invalid_rate, config.duplicate_rate
    limit = config.max_events if config.max_events is not None else math.inf
    recent: deque[bytes] = deque(maxlen=256)  # a producer retries what it sent lately
    dumps = orjson.dumps
    n = 0
    n_invalid = 0
    if limit <= 0:
        return
    for event in generate_events(config):
        line = dumps(event)
        yield line, VALID
        n += 1
        if n >= limit:
            return
        if invalid_rate and noise.random() < invalid_rate:
            kind = DEFECTS[n_invalid % len(DEFECTS)]
            n_invalid += 1
            yield corrupt(event, kind), kind
            n += 1
            if n >= limit:
                return
        recent.append(line)
        if duplicate_rate and noise.random() < duplicate_rate:
            yield recent[noise.randrange(len(recent))], DUPLICATE
            n += 1
            if n >= limit:
                return


_PAGE_TEXT = (
    "Quarterly revenue grew in every region, led by the enterprise segment; churn fell to its "
    "lowest level in two years while support tickets per customer kept declining. "
)


def corrupt(event: dict[str, Any], kind: str, max_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> bytes:
    """One line holding `event` with exactly one defect of `kind` (see EXPECTED_REASON)."""
    bad = dict(event)
    bad["event_id"] = f"{event['event_id']}-x"  # never collides with the valid copy's key
    if kind == "missing_field":
        del bad["occurred_at"]
    elif kind == "unknown_field":
        bad["user_id"] = "usr_123"  # belongs under /attributes
    elif kind == "bad_trace_id":
        bad["trace"] = {**event["trace"], "trace_id": event["trace"]["trace_id"][:16]}
    elif kind == "naive_timestamp":
        bad["occurred_at"] = event["occurred_at"].rstrip("Z")
    elif kind in ("cache_tokens_exceed_input", "total_tokens_mismatch"):
        usage = dict(event.get("resource_usage") or {"input_tokens": 1200, "output_tokens": 80})
        usage.pop("total_tokens", None)
        if kind == "cache_tokens_exceed_input":
            usage["cached_tokens"] = usage["input_tokens"] + 1  # input must include cache reads
        else:
            usage["total_tokens"] = usage["input_tokens"] + usage["output_tokens"] + 7
        bad["resource_usage"] = usage
    elif kind in ("nan", "invalid_utf8"):
        bad["attributes"] = {**event.get("attributes", {}), "note": "\x00PLACEHOLDER\x00"}
        raw = orjson.dumps(bad)
        marker = b'"\\u0000PLACEHOLDER\\u0000"'
        return raw.replace(marker, b"NaN" if kind == "nan" else b'"caf\xe9"')
    elif kind == "duplicate_key":
        return b'{"event_version":"0",' + orjson.dumps(bad)[1:]
    elif kind == "invalid_json":
        return orjson.dumps(bad)[:-1]  # a truncated write: the closing brace is missing
    elif kind == "oversized":
        # A whole scraped page pasted into the event: text, as oversized payloads usually are.
        page = _PAGE_TEXT * (max_bytes // len(_PAGE_TEXT) + 1)
        bad["attributes"] = {**event.get("attributes", {}), "tool_output": page}
    else:
        raise ValueError(f"unknown defect {kind!r}; expected one of {', '.join(DEFECTS)}")
    return orjson.dumps(bad)


@dataclass
class GenerationSummary:
    """What a generation wrote: lines by kind, and where."""

    events: int = 0  # lines written, invalid and duplicates included
    valid: int = 0
    invalid: int = 0
    duplicates: int = 0
    by_defect: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    bytes: int = 0
    posted_batches: int = 0
    seconds: float = 0.0

    def count(self, kind: str, size: int) -> None:
        self.events += 1
        self.bytes += size + 1
        if kind == VALID:
            self.valid += 1
        elif kind == DUPLICATE:
            self.duplicates += 1
        else:
            self.invalid += 1
            self.by_defect[kind] = self.by_defect.get(kind, 0) + 1

    def add(self, valid: int, others: dict[str, int], nbytes: int) -> None:
        """Add counts gathered in a hot loop (valid lines, other kinds, bytes with newlines)."""
        self.valid += valid
        self.events += valid + sum(others.values())
        self.bytes += nbytes
        for kind, n in others.items():
            if kind == DUPLICATE:
                self.duplicates += n
            else:
                self.invalid += n
                self.by_defect[kind] = self.by_defect.get(kind, 0) + n

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["events_per_s"] = round(self.events / self.seconds) if self.seconds else None
        return out

    def line(self) -> str:
        if self.files:
            where = f"into {len(self.files)} file(s)"
        elif self.posted_batches:
            where = f"in {self.posted_batches} POSTed batch(es)"
        else:
            where = "to stdout"
        return (
            f"generated {self.events:,} events ({self.valid:,} valid, {self.invalid:,} invalid, "
            f"{self.duplicates:,} duplicates) {where} in {self.seconds:.2f}s"
            + (f" ({self.events / self.seconds:,.0f} events/s)" if self.seconds else "")
        )


def _is_single_file(out: Path) -> bool:
    return out.name.endswith((".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz"))


def write_jsonl(
    lines: Iterable[tuple[bytes, str]],
    out: Path | str,
    *,
    events_per_file: int = 100_000,
    gzip_output: bool = False,
    file_stem: str = "events",
    summary: GenerationSummary | None = None,
) -> GenerationSummary:
    """Write lines as JSONL to a file, or to a folder in files of `events_per_file` lines.

    `out` is a single file when its name ends in .jsonl, .ndjson (or those plus .gz), else a
    folder (created). Files appear under their final name only when complete (written as
    `.part`, then renamed), so a loader watching the folder never reads half a file. Gzip
    output has no timestamp in its header, so it is byte-identical for the same input too.
    """
    summary = summary or GenerationSummary()
    out = Path(out)
    single = _is_single_file(out)
    if single:
        if gzip_output and not out.name.endswith(".gz"):
            out = out.with_name(out.name + ".gz")
        gzip_output = gzip_output or out.name.endswith(".gz")
        out.parent.mkdir(parents=True, exist_ok=True)
    else:
        if events_per_file < 1:
            raise GeneratorError("--events-per-file must be at least 1")
        out.mkdir(parents=True, exist_ok=True)
    suffix = ".jsonl.gz" if gzip_output else ".jsonl"
    file_no = 0
    target: Path | None = None
    fh: Any = None
    buf: list[bytes] = []
    in_file = 0

    def open_next() -> None:
        nonlocal target, fh, file_no, in_file
        target = out if single else out / f"{file_stem}-{file_no:05d}{suffix}"
        file_no += 1
        in_file = 0
        part = target.with_name(target.name + ".part")
        raw = open(part, "wb")  # noqa: SIM115 - closed in close_current
        # mtime=0 and no file name keep gzip output reproducible.
        fh = (
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6)
            if (gzip_output)
            else raw
        )

    def close_current() -> None:
        nonlocal fh
        if fh is None or target is None:
            return
        if buf:
            fh.write(b"".join(buf))
            buf.clear()
        if gzip_output:
            inner = fh.fileobj
            fh.close()
            inner.close()
        else:
            fh.close()
        os.replace(target.with_name(target.name + ".part"), target)
        summary.files.append(str(target))
        fh = None

    # Counted in locals and added once: this loop runs once per line.
    n_valid = 0
    others: dict[str, int] = {}
    nbytes = 0
    append = buf.append
    try:
        for line, kind in lines:
            if fh is None or (not single and in_file >= events_per_file):
                close_current()
                open_next()
            append(line)
            append(b"\n")
            in_file += 1
            nbytes += len(line) + 1
            if kind == VALID:
                n_valid += 1
            else:
                others[kind] = others.get(kind, 0) + 1
            if len(buf) >= 4096:
                fh.write(b"".join(buf))
                buf.clear()
        if fh is None and single:
            open_next()  # an empty window still produces the file asked for
        close_current()
    except BaseException:
        if fh is not None and target is not None:
            fh.close()
            target.with_name(target.name + ".part").unlink(missing_ok=True)
        raise
    finally:
        summary.add(n_valid, others, nbytes)
    return summary


def post_ndjson(
    lines: Iterable[tuple[bytes, str]],
    url: str,
    token: str,
    *,
    batch_size: int = 500,
    max_retries: int = 8,
    max_wait: float = 60.0,
    client: Any = None,
    sleep: Callable[[float], None] = time.sleep,
    summary: GenerationSummary | None = None,
) -> GenerationSummary:
    """Send lines to the HTTP loader in NDJSON batches, retrying 429/503 as Retry-After says.

    Connection errors are retried with exponential backoff too; any other non-2xx answer stops
    the generation with the server's message, since resending would not help.
    """
    import httpx

    summary = summary or GenerationSummary()
    own_client = client is None
    client = client or httpx.Client(timeout=30.0)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"}

    def send(batch: list[bytes]) -> None:
        body = b"\n".join(batch) + b"\n"
        for attempt in range(max_retries + 1):
            backoff = min(max_wait, 0.5 * 2**attempt)
            try:
                # partial=true: the invalid lines a test asks for are quarantined by the
                # loader while the valid ones in the same batch are kept.
                resp = client.post(url, content=body, headers=headers, params={"partial": "true"})
            except httpx.TransportError as exc:
                if attempt == max_retries:
                    raise GeneratorError(
                        f"POST {url} failed after {attempt + 1} attempts: {exc}; "
                        "is `agentops-wh serve` running there?"
                    ) from exc
                sleep(backoff)
                continue
            if resp.status_code in (429, 503) and attempt < max_retries:
                wait = parse_retry_after(resp.headers.get("Retry-After"))
                sleep(min(max_wait, backoff if wait is None else wait))
                continue
            if resp.status_code >= 300:
                raise GeneratorError(
                    f"POST {url} answered {resp.status_code}: {resp.text[:500]}"
                    + ("; check --token" if resp.status_code in (401, 403) else "")
                )
            summary.posted_batches += 1
            return

    try:
        batch: list[bytes] = []
        for line, kind in lines:
            batch.append(line)
            summary.count(kind, len(line))
            if len(batch) >= batch_size:
                send(batch)
                batch = []
        if batch:
            send(batch)
    finally:
        if own_client:
            client.close()
    return summary


# --------------------------------------------------------------------------------------------
# Command line


def _parse_time(value: str) -> datetime:
    """An RFC 3339 date-time or a date; naive values are taken as UTC."""
    try:
        dt = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a date or date-time; use e.g. 2026-11-01 or 2026-11-01T12:00:00Z"
        ) from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def config_from_args(
    args: argparse.Namespace, wall_clock: datetime | None = None
) -> GeneratorConfig:
    """The GeneratorConfig the `generate` options describe."""
    if (args.start is None) != (args.end is None):
        raise GeneratorError("--start and --end go together")
    if args.start is not None and args.days is not None:
        raise GeneratorError("use either --days or --start/--end, not both")
    common: dict[str, Any] = {
        "seed": args.seed,
        "tenants": args.tenants,
        "invalid_rate": args.invalid_rate,
        "duplicate_rate": args.duplicate_rate,
        "unknown_model_rate": args.unknown_model_rate,
        "max_events": args.events,
    }
    runs_per_day = args.runs_per_day
    if args.start is not None:
        days = (args.end - args.start) / timedelta(days=1)
    else:
        days = 7.0 if args.days is None else args.days
    if runs_per_day is None:
        runs_per_day = 1000.0
        if args.events is not None and days > 0:
            # A little more traffic than needed, so the cap (not the window) ends the stream.
            runs_per_day = args.events / (days * EVENTS_PER_RUN) * 1.05
    common["runs_per_day"] = runs_per_day
    if args.start is not None:
        return GeneratorConfig(start=args.start, end=args.end, now=args.now or args.end, **common)
    # Only a relative window reads the clock, and only when --now is not given.
    now = args.now or wall_clock or datetime.now(UTC)
    return GeneratorConfig.last_days(days, now, **common)


def _cmd_generate(args: argparse.Namespace) -> int:
    try:
        config = config_from_args(args)
        if args.out is None and args.post is None:
            raise GeneratorError("say where the events go: --out FILE|DIR|- or --post URL")
        if args.post is not None and not args.token:
            raise GeneratorError("--post needs --token (or $AGENTOPS_TOKEN)")
        if args.json and args.out == "-":
            raise GeneratorError("--json and --out - both use stdout; pick one")
        began = time.perf_counter()
        lines = generate_lines(config)
        if args.post is not None:
            summary = post_ndjson(lines, args.post, args.token, batch_size=args.batch_size)
        elif args.out == "-":
            summary = GenerationSummary()
            stdout = sys.stdout.buffer
            try:
                for line, kind in lines:
                    stdout.write(line + b"\n")
                    summary.count(kind, len(line))
                stdout.flush()
            except BrokenPipeError:
                # The reader (`| head`) has what it wants: stop quietly, as Unix tools do.
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        else:
            summary = write_jsonl(
                lines,
                Path(args.out),
                events_per_file=args.events_per_file,
                gzip_output=args.gzip,
                file_stem=f"events-{config.fingerprint()}",
            )
        summary.seconds = round(time.perf_counter() - began, 3)
    except GeneratorError as exc:
        print(f"agentops-wh generate: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(orjson.dumps(summary.as_dict()).decode())
    else:
        print(summary.line(), file=sys.stderr)
    return 0


def _rate(value: str) -> float:
    try:
        rate = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not 0.0 <= rate <= 1.0:
        raise argparse.ArgumentTypeError(f"{value} is not a rate between 0 and 1")
    return rate


def register(sub: Any) -> None:
    """Add the `generate` subcommand to the `agentops-wh` parser."""
    p = sub.add_parser(
        "generate",
        help="synthetic multi-tenant agent telemetry, deterministic for a --seed",
        description="Generate realistic agent events (runs, steps, model and tool calls, "
        "policy decisions, failures and retries) as JSONL, or POST them to the HTTP loader. "
        "The same options give byte-identical output.",
    )
    p.add_argument("--seed", type=int, default=42, help="random seed (default: %(default)s)")
    p.add_argument("--tenants", type=int, default=3, help="number of tenants (default: 3)")
    p.add_argument("--days", type=float, help="window of N days ending at --now (default: 7)")
    p.add_argument("--start", type=_parse_time, help="absolute window start (with --end)")
    p.add_argument("--end", type=_parse_time, help="absolute window end (with --start)")
    p.add_argument(
        "--now",
        type=_parse_time,
        help="the generation's clock: no event is later (default: --end, else the current time)",
    )
    p.add_argument(
        "--runs-per-day",
        type=float,
        help="average runs started per day, all tenants together (default: 1000)",
    )
    p.add_argument(
        "--events",
        type=int,
        help="stop after exactly N lines; sizes --runs-per-day to match unless it is given",
    )
    p.add_argument("--invalid-rate", type=_rate, default=0.0, help="invalid lines per event")
    p.add_argument("--duplicate-rate", type=_rate, default=0.0, help="exact re-sends per event")
    p.add_argument(
        "--unknown-model-rate",
        type=_rate,
        default=0.02,
        help="share of model calls to models genai-prices does not know (default: %(default)s)",
    )
    p.add_argument(
        "--out",
        metavar="FILE|DIR",
        help="a .jsonl/.ndjson file (optionally .gz), '-' for stdout, or a folder",
    )
    p.add_argument(
        "--events-per-file",
        type=int,
        default=100_000,
        help="lines per file when --out is a folder (default: %(default)s)",
    )
    p.add_argument("--gzip", action="store_true", help="gzip the output files")
    p.add_argument("--post", metavar="URL", help="POST NDJSON batches, e.g. to /v1/events")
    p.add_argument("--token", default=os.environ.get("AGENTOPS_TOKEN"), help="bearer token")
    p.add_argument("--batch-size", type=int, default=500, help="lines per POST (default: 500)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    p.set_defaults(func=_cmd_generate)
