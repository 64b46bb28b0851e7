"""The Teams clients of a thread that is not async: an event loop of their own, in a thread.

The connector, the lookup and the tokens are `async` and hold `asyncio.Lock`s, which belong to
the loop they first ran on. The outbox worker is a thread that calls one platform method at a
time, so the transport keeps one loop running in a thread of its own, and one `AppToken`,
`Connector` and `Lookup` made for it; any thread hands it a coroutine and waits for the
answer (`run`). One shared `httpx.AsyncClient` keeps the connections to Microsoft open
between messages.

A refusal that no retry can mend (`Refused.permanent`: a conversation Teams does not know,
the bot removed from it, a message too large, a wrong secret) is raised as `Undeliverable`
with Microsoft's code and message: the row goes to the dead letters with that reason.
Everything else comes back as the `TeamsError` it is, for the worker to sort (`answer`).
"""

import asyncio
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import TypeVar

import httpx

from bot.clock import Clock, utcnow
from bot.delivery.interface import Undeliverable
from bot.teams.connector import Connector
from bot.teams.endpoints import GRAPH_SCOPE, TeamsEndpoints
from bot.teams.errors import Refused
from bot.teams.lookup import Lookup
from bot.teams.token import AppToken

T = TypeVar("T")
TIMEOUT = 10.0
"""Seconds one HTTP request to Microsoft may take."""


class TeamsClients:
    """An event loop in a daemon thread, and the clients that live on it."""

    def __init__(
        self, endpoints: TeamsEndpoints, *, clock: Clock = utcnow, timeout: float = TIMEOUT
    ) -> None:
        self.endpoints = endpoints
        self.timeout = timeout
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="baton-teams", daemon=True
        )
        self._thread.start()
        self.http: httpx.AsyncClient = self._on_loop(self._client)
        self.token = AppToken(endpoints, http=self.http, clock=clock)
        self.connector = Connector(endpoints, token=self.token, http=self.http)
        graph = AppToken(
            endpoints,
            http=self.http,
            clock=clock,
            scope=GRAPH_SCOPE,
            tenant=endpoints.teams_tenant_id,
        )
        self.lookup = Lookup(endpoints, token=graph, http=self.http)

    async def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=self.timeout)

    def _on_loop(self, make: Callable[[], Awaitable[T]]) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(make(), self._loop)  # type: ignore[arg-type]
        return future.result()

    def run(self, make: Callable[[], Awaitable[T]]) -> T:
        """Run the coroutine `make()` on the clients' loop and wait for its answer; a
        permanent refusal is raised as `Undeliverable`."""
        try:
            return self._on_loop(make)
        except Refused as refused:
            if refused.permanent:
                raise Undeliverable(f"Teams refused it: {refused}") from refused
            raise

    def close(self) -> None:
        """Close the connections and stop the loop; the clients are not used afterwards."""
        if not self._loop.is_running():
            return
        self._on_loop(self.http.aclose)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()
