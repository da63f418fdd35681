"""Delivering outbox alerts: routes, webhook senders with slack-sdk's retry handlers, a pass.

A budget's `destination` names where its alerts go, and `$AGENTOPS_ALERT_ROUTES` (a JSON
object, or the path of a file holding one) maps each destination to a webhook URL:

    {"slack:#acme-finance": "https://hooks.slack.com/services/...",
     "webhook:ops": "https://ops.example/hooks/agentops"}

    slack:#channel   -> its route, a Slack incoming webhook (Slack's message format)
    webhook:NAME     -> its route, a generic JSON webhook (structured alerts)
    empty            -> the default route, $SLACK_WEBHOOK_URL
    no route         -> reported (the outbox notes it; the Budgets page and the run log show
                        it) and sent to $SLACK_WEBHOOK_URL; a `webhook:` destination goes to
                        $AGENTOPS_ALERT_WEBHOOK_URL first when that is set
    email:ADDRESS    -> recorded as not deliverable yet: `failed` with the reason, not retried

`deliver_pending` is one delivery pass; it is what materializing `alert_outbox` runs.
"""

from __future__ import annotations

import logging
import os
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.client import RemoteDisconnected
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.error import URLError

import orjson
from slack_sdk.http_retry import (
    ConnectionErrorRetryHandler,
    HttpRequest,
    HttpResponse,
    RateLimitErrorRetryHandler,
    RetryHandler,
    RetryState,
)
from slack_sdk.http_retry.builtin_handlers import ServerErrorRetryHandler
from slack_sdk.webhook import WebhookClient

from ingestion.fsync import fsync_and_rename
from ingestion.producers.retry_after import parse_retry_after
from orchestration.alerts.keys import short_hash
from orchestration.alerts.outbox import Outbox
from orchestration.alerts.rules import (
    Alert,
    Message,
    alert_events,
    events_jsonl,
    json_payload,
    plan_messages,
    slack_payload,
)

if TYPE_CHECKING:  # the resource imports this module for the variables' names
    from orchestration.resources import AlertsResource

SLACK_URL_ENV = "SLACK_WEBHOOK_URL"
WEBHOOK_URL_ENV = "AGENTOPS_ALERT_WEBHOOK_URL"
ROUTES_ENV = "AGENTOPS_ALERT_ROUTES"
MAX_BACKOFF_SECONDS = 900.0
log = logging.getLogger("agentops.alerts")


# --- routes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """Where an alert's destination is sent: a webhook (kind and URL), or why it is not."""

    webhook: str | None = None  # storm-control key: kind plus a hash of the URL
    kind: str | None = None  # 'slack' or 'json'
    url: str | None = None
    problem: str | None = None
    permanent: bool = False  # no configuration change will make it deliverable here
    note: str | None = None  # sent, but not where the destination asked (no route: fallback)


def parse_routes(raw: str | None) -> dict[str, str]:
    """`$AGENTOPS_ALERT_ROUTES`: a JSON object {destination: webhook URL}, or the path of a
    file holding one. Refused with the reason: not JSON, not an object, a key that is not
    `slack:#channel` or `webhook:NAME`, a value that is not an http(s) URL."""
    text = (raw or "").strip()
    if not text:
        return {}
    where = ROUTES_ENV
    if not text.startswith("{"):
        path = Path(text).expanduser()
        try:
            text = path.read_text()
        except OSError as exc:
            raise ValueError(
                f"{ROUTES_ENV}={raw!r} is neither a JSON object nor a readable file ({exc}); "
                'write e.g. {"slack:#finance": "https://hooks.slack.com/services/..."}'
            ) from None
        where = f"{ROUTES_ENV} file {path}"
    try:
        routes = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"{where} is not valid JSON: {exc}") from None
    if not isinstance(routes, dict):
        raise ValueError(f"{where} must be a JSON object {{destination: webhook URL}}")
    problems = []
    for key, url in routes.items():
        scheme, _, name = key.partition(":")
        if scheme not in ("slack", "webhook") or not name.strip(":# "):
            problems.append(f"key {key!r} is not slack:#channel or webhook:NAME")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            problems.append(f"{key!r}: {url!r} is not an http(s) URL")
    if problems:
        raise ValueError(f"{where}: " + "; ".join(problems))
    return {k.strip(): v for k, v in routes.items()}


def _webhook(kind: str, url: str, note: str | None = None) -> Route:
    return Route(f"{kind}-{short_hash(url, 4)}", kind, url, note=note)


def route_for(
    destination: str,
    slack_url: str | None,
    webhook_url: str | None,
    routes: dict[str, str] | None = None,
) -> Route:
    """Map a budget's `destination` to a webhook (pure: the URLs are passed in)."""
    destination = destination.strip()
    scheme = destination.split(":", 1)[0].strip().lower()
    routes = routes or {}
    if scheme == "email":
        return Route(
            problem=(
                "email destinations are not deliverable yet: recorded only; point the budget "
                "at slack:#channel or webhook:NAME with a route in " + ROUTES_ENV
            ),
            permanent=True,
        )
    if scheme and scheme not in ("slack", "webhook"):
        return Route(
            problem=(
                f"'{scheme}' destinations are not delivered by this deployment (Slack and JSON "
                f"webhooks are): recorded only; point the budget at slack:#channel or "
                f"webhook:NAME"
            ),
            permanent=True,
        )
    if destination in routes:
        return _webhook("slack" if scheme == "slack" else "json", routes[destination])
    if scheme == "webhook" and webhook_url:
        return _webhook("json", webhook_url)
    note = None
    if scheme:
        note = f"no route for {destination} in {ROUTES_ENV}: sent to {SLACK_URL_ENV}"
    if not slack_url:
        missing = f"no route for {destination} in {ROUTES_ENV} and " if scheme else ""
        return Route(problem=f"{missing}{SLACK_URL_ENV} is not set: recorded, not sent")
    return _webhook("slack", slack_url, note)


# --- sending ------------------------------------------------------------------------------


def _header(response: HttpResponse | None, name: str) -> str | None:
    if response is None:
        return None
    for k, v in response.headers.items():
        if k.lower() == name:
            return v[0] if isinstance(v, list) else v
    return None


class BoundedRateLimitRetryHandler(RateLimitErrorRetryHandler):
    """slack-sdk's 429 handler, waiting out Retry-After only up to `max_wait` seconds.

    A longer Retry-After is not slept through inside a run (it would hold the run for an
    hour); the 429 comes back to the caller, which schedules the retry on a later tick.
    The built-in handler also crashes on a fractional or HTTP-date header; this one parses it.
    """

    def __init__(self, max_retry_count: int = 2, max_wait: float = 30.0):
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait = max_wait

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        wait = parse_retry_after(_header(response, "retry-after"))
        return wait is None or wait <= self.max_wait

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        wait = parse_retry_after(_header(response, "retry-after"))
        state.next_attempt_requested = True
        time.sleep((1.0 if wait is None else wait) + random.uniform(0.0, 0.1))
        state.increment_current_attempt()


class AnyServerErrorRetryHandler(ServerErrorRetryHandler):
    """Backs off on every 5xx (the built-in one retries only 500 and 503)."""

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return response is not None and 500 <= response.status_code < 600


def retry_handlers(max_retry_after: float) -> list[RetryHandler]:
    """429 (Retry-After honoured), 5xx and connection errors or timeouts, with back-off."""
    return [
        BoundedRateLimitRetryHandler(max_retry_count=2, max_wait=max_retry_after),
        AnyServerErrorRetryHandler(max_retry_count=2),
        ConnectionErrorRetryHandler(
            max_retry_count=2,
            error_types=[URLError, ConnectionError, RemoteDisconnected, TimeoutError],
        ),
    ]


SENT, RETRY, FAILED = "sent", "retry", "failed"


@dataclass(frozen=True)
class SendResult:
    outcome: str  # SENT, RETRY or FAILED
    status_code: int | None = None
    error: str | None = None
    retry_after: float | None = None


def classify(status_code: int, body: str, retry_after: float | None, kind: str) -> SendResult:
    """What a webhook's answer means for the alert (pure)."""
    if 200 <= status_code < 300:
        return SendResult(SENT, status_code)
    snippet = (body or "").strip()[:200]
    if status_code == 429:
        return SendResult(RETRY, status_code, f"HTTP 429 rate limited: {snippet}", retry_after)
    if status_code >= 500:
        return SendResult(RETRY, status_code, f"HTTP {status_code} from the webhook: {snippet}")
    env = SLACK_URL_ENV if kind == "slack" else WEBHOOK_URL_ENV
    return SendResult(
        FAILED,
        status_code,
        f"HTTP {status_code} {snippet}: the webhook refused the message, a configuration "
        f"error (wrong, revoked or archived webhook?); check {env}. Not retried.",
    )


class WebhookSender:
    """Posts JSON bodies to one webhook URL through slack-sdk's `WebhookClient`."""

    def __init__(self, url: str, kind: str, timeout: int = 10, max_retry_after: float = 30.0):
        self.kind = kind
        self.client = WebhookClient(
            url, timeout=timeout, retry_handlers=retry_handlers(max_retry_after)
        )

    def post(self, body: dict[str, Any]) -> SendResult:
        try:
            resp = self.client.send_dict(body)
        except (OSError, URLError, ValueError) as exc:  # refused, reset, timeout, bad URL
            return SendResult(RETRY, None, f"could not reach the webhook: {exc}")
        retry_after = parse_retry_after(_header_any(resp.headers, "retry-after"))
        return classify(resp.status_code, resp.body, retry_after, self.kind)


def _header_any(headers: Any, name: str) -> str | None:
    if not headers:
        return None
    for k, v in dict(headers).items():
        if k.lower() == name:
            return v[0] if isinstance(v, list) else v
    return None


# --- one delivery pass --------------------------------------------------------------------


@dataclass
class DeliveryReport:
    """What a pass did, by dedupe key; the op turns it into logs and metadata."""

    sent: list[str] = field(default_factory=list)
    retrying: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    not_sent: dict[str, str] = field(default_factory=dict)
    fallbacks: dict[str, str] = field(default_factory=dict)
    messages: int = 0
    digests: int = 0
    events_file: str | None = None
    events_written: int = 0
    snapshot_rows: int = 0


@dataclass
class Router:
    """Routes destinations to senders; one sender (one client) per webhook per pass."""

    slack_url: str | None
    webhook_url: str | None
    settings: AlertsResource
    routes: dict[str, str] = field(default_factory=dict)
    senders: dict[str, WebhookSender] = field(default_factory=dict)

    def route(self, destination: str) -> Route:
        return route_for(destination, self.slack_url, self.webhook_url, self.routes)

    def sender(self, route: Route) -> WebhookSender:
        assert route.webhook and route.url and route.kind
        if route.webhook not in self.senders:
            self.senders[route.webhook] = WebhookSender(
                route.url,
                route.kind,
                timeout=self.settings.http_timeout_seconds,
                max_retry_after=self.settings.max_retry_after_seconds,
            )
        return self.senders[route.webhook]


def backoff_seconds(base: float, attempts: int) -> float:
    return min(MAX_BACKOFF_SECONDS, base * 2 ** max(0, attempts - 1))


def deliver_pending(
    outbox: Outbox,
    router: Router,
    *,
    claim_id: str,
    landing_dir: Path,
    snapshot_path: Path,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> DeliveryReport:
    """Send every due alert once, mark each by the webhook's answer, then write the events
    of sent alerts into the landing folder and the outbox snapshot for dbt."""
    settings = router.settings
    report = DeliveryReport()
    now = clock()
    by_webhook: dict[str, tuple[Route, list[Alert]]] = {}
    for row in outbox.due(now):
        route = router.route(row.alert.destination)
        if route.note != row.route_note:
            outbox.note_route([row.dedupe_key], route.note)
        if route.note:
            report.fallbacks[row.dedupe_key] = route.note
        if route.problem:
            outbox.record_undeliverable(
                [row.dedupe_key], now, route.problem, permanent=route.permanent
            )
            report.not_sent[row.dedupe_key] = route.problem
            continue
        assert route.webhook
        by_webhook.setdefault(route.webhook, (route, []))[1].append(row.alert)

    for webhook, (route, alerts) in sorted(by_webhook.items()):
        for planned in plan_messages(alerts, settings.digest_min_alerts):
            claimed = outbox.claim(
                list(planned.keys), claim_id, clock(), settings.claim_lease_seconds
            )
            if not claimed:  # another run took them between `due` and now
                continue
            message = Message(tuple(r.alert for r in claimed))
            slot = outbox.reserve_slot(webhook, clock(), settings.min_message_interval_seconds)
            if (wait := slot - clock()) > 0:
                sleep(wait)
            if route.kind == "slack":
                body = slack_payload(message, settings.budgets_url)
            else:
                body = json_payload(message, settings.budgets_url)
            result = router.sender(route).post(body)
            done = clock()
            keys = list(message.keys)
            report.messages += 1
            report.digests += int(message.is_digest)
            log.info(
                "alert message %s: %d alert(s) to %s",
                result.outcome,
                len(keys),
                ", ".join(sorted({a.destination for a in message.alerts})),
                extra={
                    "run_id": claim_id,
                    "tenant_id": sorted({_tenant(a) for a in message.alerts}),
                    "dedupe_keys": keys,
                    "status_code": result.status_code,
                    "error": result.error,
                    "route_note": route.note,
                },
            )
            if result.outcome == SENT:
                outbox.mark_sent(keys, claim_id, done)
                report.sent.extend(keys)
            elif result.outcome == RETRY:
                attempts = max(r.attempts for r in claimed)
                delay = max(
                    result.retry_after or 0.0,
                    backoff_seconds(settings.retry_backoff_seconds, attempts),
                )
                error = result.error or "transient failure"
                outbox.mark_retry(keys, claim_id, done, error, done + delay)
                report.retrying.update(dict.fromkeys(keys, error))
            else:
                error = result.error or "refused"
                outbox.mark_failed(keys, claim_id, done, error)
                report.failed.update(dict.fromkeys(keys, error))

    report.events_file, report.events_written = write_alert_events(outbox, landing_dir)
    report.snapshot_rows = outbox.export_snapshot(snapshot_path)
    return report


def _tenant(alert: Alert) -> str:
    f = alert.facts
    return str(f.get("tenant_id") or (f.get("tenant") or ["-"])[0])


def write_alert_events(outbox: Outbox, landing_dir: Path) -> tuple[str | None, int]:
    """Events of every sent alert not yet written, as one JSONL file in the landing folder.

    Written under a temporary name and renamed, so the loader and the landing sensor only
    ever see the whole file. A crash before the mark rewrites the same events next time;
    their ids derive from the dedupe key, so the warehouse keeps one copy.
    """
    rows = outbox.sent_without_events()
    if not rows:
        return None, 0
    events: list[dict[str, Any]] = []
    for r in rows:
        detected = datetime.fromtimestamp(r.created_at, tz=UTC)
        sent = datetime.fromtimestamp(r.sent_at or r.updated_at, tz=UTC)
        events.extend(alert_events(r.alert, detected, sent))
    if not events:  # alerts about the pipeline itself: no events of a tenant's agents
        outbox.mark_events_written(r.dedupe_key for r in rows)
        return None, 0
    folder = landing_dir / "_alerts"
    folder.mkdir(parents=True, exist_ok=True)
    # Named by the alerts it holds: a rerun for the same alerts rewrites the same file. The
    # temporary name is this writer's own: two passes at once never rename each other's.
    dest = folder / f"alerts-{short_hash(','.join(r.dedupe_key for r in rows))}.jsonl"
    fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=folder)
    with os.fdopen(fd, "wb") as fh:
        fh.write(events_jsonl(events))
    fsync_and_rename(Path(name), dest)
    outbox.mark_events_written(r.dedupe_key for r in rows)
    return str(dest), len(events)
