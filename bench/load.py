"""The clients' side, run in a process of its own: HTTP requests sent concurrently with httpx.

Kept to the standard library and httpx, so starting it costs little and it never imports the
app it measures.
"""

from __future__ import annotations

import asyncio
import time

import httpx

Request = tuple[str, bytes, dict[str, str]]
Answer = tuple[float, float, int, str | None]


def send(
    base_url: str,
    requests: list[Request],
    concurrency: int,
    answers: bool = False,
    within: float | None = None,
) -> list[Answer]:
    """Send the requests, `concurrency` at a time; (sent, answered, status, body) for each.

    With `within` (seconds), no new request starts after that long: a slow app gets a
    shorter burst instead of a benchmark that never ends. Times are `time.monotonic()`,
    which on Linux is one clock for every process, so they compare with the fake Slack's
    `Call.at` in the app's process.
    """
    return asyncio.run(_send(base_url, requests, concurrency, answers, within))


async def _send(
    base_url: str,
    requests: list[Request],
    concurrency: int,
    answers: bool,
    within: float | None,
) -> list[Answer]:
    stop = time.monotonic() + within if within else float("inf")
    results: list[Answer | None] = [None] * len(requests)
    upcoming = iter(range(len(requests)))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=120) as client:

        async def worker() -> None:
            for index in upcoming:
                if time.monotonic() > stop:
                    return
                path, body, headers = requests[index]
                sent = time.monotonic()
                try:
                    response = await client.post(path, content=body, headers=headers)
                    status, text = response.status_code, response.text if answers else None
                except httpx.HTTPError as error:
                    status, text = 0, f"{type(error).__name__}: {error}"
                results[index] = (sent, time.monotonic(), status, text)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return [result for result in results if result is not None]
