"""Work awaited while earlier work of its kind runs is done together, in batches as large as
the wait made them (`bot.service.endpoints.together`)."""

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.service.endpoints.together import Together


def test_a_lone_item_starts_at_once_and_those_awaited_meanwhile_go_together_in_order():
    batches: list[list[int]] = []
    started, release = threading.Event(), threading.Event()

    def do(items: list[int]) -> list[int]:
        batches.append(list(items))
        if items == [0]:
            started.set()
            release.wait(10)
        return [item * 10 for item in items]

    async def run() -> tuple[int, list[int]]:
        with ThreadPoolExecutor(2) as threads:
            together = Together(do, threads, at_once=1, most=3)
            first = asyncio.ensure_future(together(0))
            await asyncio.get_running_loop().run_in_executor(None, started.wait, 10)
            rest = [asyncio.ensure_future(together(n)) for n in range(1, 6)]
            await asyncio.sleep(0)  # each of them is waiting now
            release.set()
            return await first, list(await asyncio.gather(*rest))

    first, rest = asyncio.run(run())
    assert (first, rest) == (0, [10, 20, 30, 40, 50])
    assert batches == [[0], [1, 2, 3], [4, 5]]


def test_a_failed_outcome_is_raised_for_its_item_alone_and_a_failed_batch_for_each():
    started, release = threading.Event(), threading.Event()

    def do(items: list[str]) -> list[str | Exception]:
        if items == ["first"]:
            started.set()
            release.wait(10)
        if "broken" in items:
            raise RuntimeError("the whole batch failed")
        return [ValueError(item) if item == "bad" else item.upper() for item in items]

    async def run() -> list[object]:
        with ThreadPoolExecutor(2) as threads:
            together = Together(do, threads, at_once=1, most=3)
            first = asyncio.ensure_future(together("first"))
            await asyncio.get_running_loop().run_in_executor(None, started.wait, 10)
            batches = [("a", "bad", "b"), ("c", "broken")]
            waiting = [asyncio.ensure_future(together(item)) for batch in batches for item in batch]
            await asyncio.sleep(0)
            release.set()
            await first
            return list(await asyncio.gather(*waiting, return_exceptions=True))

    a, bad, b, c, broken = asyncio.run(run())
    assert (a, b) == ("A", "B")
    assert isinstance(bad, ValueError)
    assert isinstance(c, RuntimeError) and isinstance(broken, RuntimeError)


@pytest.mark.parametrize("at_once", [1, 2])
def test_no_more_than_at_once_batches_run_at_a_time(at_once: int):
    running, most_seen = 0, 0
    lock = threading.Lock()

    def do(items: list[int]) -> list[int]:
        nonlocal running, most_seen
        with lock:
            running += 1
            most_seen = max(most_seen, running)
        threading.Event().wait(0.01)
        with lock:
            running -= 1
        return items

    async def run() -> list[int]:
        with ThreadPoolExecutor(4) as threads:
            together = Together(do, threads, at_once=at_once, most=2)
            return list(await asyncio.gather(*(together(n) for n in range(12))))

    assert asyncio.run(run()) == list(range(12))
    assert most_seen == at_once
