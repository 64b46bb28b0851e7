"""Work that arrives while earlier work of its kind is being done waits for it, then is done
together: a batch as large as the wait made it, with no timer.

The first piece starts at once, alone (a lone click waits for nothing), and so does every
piece while fewer than `at_once` batches are running. The rest wait; when a batch ends,
everything that waited meanwhile is the next one. Fifty claims at once are thereby a few
transactions, not fifty (`bot.teams.listeners.claims`).
"""

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor
from contextvars import copy_context
from typing import Generic, TypeVar

Item = TypeVar("Item")
Outcome = TypeVar("Outcome")


class Together(Generic[Item, Outcome]):
    """`do(items)` (in `threads`, an outcome for each item, in their order) for batches of
    at most `most` of the items awaited meanwhile. An outcome that is an exception is raised
    for its item alone; `do` raising, for every item of the batch. Used from one event loop."""

    def __init__(
        self,
        do: Callable[[list[Item]], list[Outcome]],
        threads: Executor,
        *,
        at_once: int,
        most: int,
    ) -> None:
        self.do = do
        self.threads = threads
        self.at_once = at_once
        self.most = most
        self._waiting: list[tuple[Item, asyncio.Future[Outcome]]] = []
        self._running = 0

    async def __call__(self, item: Item) -> Outcome:
        done: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, done))
        if self._running < self.at_once:
            self._start()
        return await done

    def _start(self) -> None:
        batch, self._waiting = self._waiting[: self.most], self._waiting[self.most :]
        self._running += 1
        items = [item for item, _ in batch]
        job = asyncio.get_running_loop().run_in_executor(
            self.threads, copy_context().run, self.do, items
        )
        job.add_done_callback(lambda finished: self._finish(finished, batch))

    def _finish(
        self, job: asyncio.Future[list[Outcome]], batch: list[tuple[Item, asyncio.Future[Outcome]]]
    ) -> None:
        self._running -= 1
        failed = asyncio.CancelledError() if job.cancelled() else job.exception()
        outcomes = [] if failed else job.result()
        for n, (_, done) in enumerate(batch):
            if done.cancelled():
                continue
            outcome = failed or outcomes[n]
            if isinstance(outcome, BaseException):
                done.set_exception(outcome)
            else:
                done.set_result(outcome)
        while self._waiting and self._running < self.at_once:
            self._start()
