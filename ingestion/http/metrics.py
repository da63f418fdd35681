"""The HTTP loader's Prometheus metrics: counters and latency histograms, text format."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class Metrics:
    """Counters for /metrics (Prometheus text format, written by hand: no extra dependency)."""

    accepted: int = 0
    duplicates: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    requests: Counter[tuple[str, int]] = field(default_factory=Counter)
    latency: dict[str, list[int]] = field(default_factory=dict)  # route -> bucket counts + inf
    latency_sum: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def observe(self, route: str, status: int, seconds: float) -> None:
        with self.lock:
            self.requests[(route, status)] += 1
            counts = self.latency.setdefault(route, [0] * (len(_BUCKETS) + 1))
            for i, le in enumerate(_BUCKETS):
                if seconds <= le:
                    counts[i] += 1
            counts[-1] += 1
            self.latency_sum[route] += seconds

    def render(
        self, gauges: dict[str, tuple[str, float]], counters: dict[str, tuple[str, float]]
    ) -> str:
        out: list[str] = []

        def metric(name: str, kind: str, help_: str, samples: list[tuple[str, float]]) -> None:
            out.append(f"# HELP {name} {help_}")
            out.append(f"# TYPE {name} {kind}")
            for labels, value in samples:
                v = repr(float(value)) if isinstance(value, float) else str(value)
                out.append(f"{name}{labels} {v}")

        with self.lock:
            metric(
                "agentops_http_events_accepted_total",
                "counter",
                "Events written to the write-ahead log (durable) by the HTTP loader.",
                [("", self.accepted)],
            )
            metric(
                "agentops_http_events_duplicate_total",
                "counter",
                "Events whose event_id was already accepted (answered 2xx, not stored again).",
                [("", self.duplicates)],
            )
            metric(
                "agentops_http_events_rejected_total",
                "counter",
                "Events refused by validation, by reason code (kept in the quarantine).",
                [(f'{{reason_code="{k}"}}', v) for k, v in sorted(self.rejected.items())],
            )
            metric(
                "agentops_http_requests_total",
                "counter",
                "HTTP requests by route and status code.",
                [
                    (f'{{route="{r}",status="{s}"}}', v)
                    for (r, s), v in sorted(self.requests.items())
                ],
            )
            name = "agentops_http_request_duration_seconds"
            out.append(f"# HELP {name} Request latency, from first byte read to answer.")
            out.append(f"# TYPE {name} histogram")
            for route, counts in sorted(self.latency.items()):
                for le, c in zip([*map(str, _BUCKETS), "+Inf"], counts, strict=True):
                    out.append(f'{name}_bucket{{route="{route}",le="{le}"}} {c}')
                out.append(f'{name}_sum{{route="{route}"}} {self.latency_sum[route]!r}')
                out.append(f'{name}_count{{route="{route}"}} {counts[-1]}')
        for name, (help_, value) in gauges.items():
            metric(name, "gauge", help_, [("", value)])
        for name, (help_, value) in counters.items():
            metric(name, "counter", help_, [("", value)])
        return "\n".join(out) + "\n"
