"""Keeping the HTTP loader responsive while some clients are slow or hostile.

uvicorn runs the app on one event loop: a slow client costs a connection, not a worker, as
long as nothing waits for it while holding a shared resource. These pieces bound what a slow
client can hold: the time it may take to send its headers and its body, and how many requests
one client (a token, else an address) may have in flight.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol


class TooManyInFlight(Exception):
    """A client already has as many requests in flight as it may."""


class ClientSlots:
    """Counts requests in flight per client key; one key may hold at most `limit`."""

    def __init__(self, limit: int):
        self.limit = limit
        self.in_flight: Counter[str] = Counter()

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        # One event loop: the check and the increment cannot interleave with another request.
        if self.in_flight[key] >= self.limit:
            raise TooManyInFlight(key)
        self.in_flight[key] += 1
        try:
            yield
        finally:
            self.in_flight[key] -= 1
            if not self.in_flight[key]:
                del self.in_flight[key]


async def within(seconds: float, read: Any) -> bytes:
    """Await the body read `read`, raising TimeoutError past `seconds` in all."""
    async with asyncio.timeout(seconds):
        return await read


def header_timeout_protocol(seconds: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol with a deadline on a new connection's request headers.

    uvicorn closes an idle connection `timeout_keep_alive` seconds after a response, but arms
    no timer before the first request (and any byte received cancels its timer): a client that
    connects and sends its headers a byte at a time would hold the connection for ever. This
    closes, as uvicorn's idle timer does, a connection with no complete request by then.
    """

    class HeaderTimeoutH11Protocol(H11Protocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self.header_deadline = self.loop.call_later(seconds, self.headers_overdue)

        def headers_overdue(self) -> None:
            if self.cycle is None:  # no complete request line and headers yet
                self.timeout_keep_alive_handler()

        def connection_lost(self, exc: Exception | None) -> None:
            self.header_deadline.cancel()
            super().connection_lost(exc)

    return HeaderTimeoutH11Protocol
