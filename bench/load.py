"""The clients' side, run in a process of its own: HTTP/1.1 requests over kept-alive sockets.

The figures are Baton's answer times, so the client must cost next to nothing: requests are
serialised before the clock starts, each of the `concurrency` connections is opened before the
first request is sent (as Slack's and a CRM's connection pools keep theirs open), and a request
is a single write of ready bytes. A general HTTP client spends a millisecond or more of its
own on each request, which 50 requests at once would add up in front of the app's answer.
Kept to the standard library, so starting it costs little and it never imports the app.
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit

Request = tuple[str, bytes, dict[str, str]]
Answer = tuple[float, float, int, str | None]


def send(
    base_url: str | list[str],
    requests: list[Request],
    concurrency: int,
    answers: bool = False,
    within: float | None = None,
) -> list[Answer]:
    """Send the requests, `concurrency` at a time; (sent, answered, status, body) for each.

    Several base URLs (replicas) share the connections between them in turn, as a load
    balancer would.

    With `within` (seconds), no new request starts after that long: a slow app gets a
    shorter burst instead of a benchmark that never ends. Times are `time.monotonic()`,
    which on Linux is one clock for every process, so they compare with the fake Slack's
    `Call.at` in the app's process. A request that fails has status 0 and the error as body.
    """
    return asyncio.run(_send(base_url, requests, concurrency, answers, within))


def _serialise(host: str, request: Request) -> bytes:
    path, body, headers = request
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if not any(name.lower() == "content-type" for name in headers):
        lines.append("Content-Type: application/x-www-form-urlencoded")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _answer(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """Status, body, and whether the server keeps the connection open."""
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return int(status_line.split()[1]), body, headers.get("connection", "").lower() != "close"


async def _send(
    base_url: str | list[str],
    requests: list[Request],
    concurrency: int,
    answers: bool,
    within: float | None,
) -> list[Answer]:
    urls = [urlsplit(url) for url in ([base_url] if isinstance(base_url, str) else base_url)]
    ready = [_serialise(urls[0].netloc, request) for request in requests]
    results: list[Answer | None] = [None] * len(requests)
    upcoming = iter(range(len(requests)))
    places = [(url.hostname or "127.0.0.1", url.port or 80) for url in urls]
    connections = [
        (*(await asyncio.open_connection(*places[n % len(places)])), places[n % len(places)])
        for n in range(concurrency)
    ]
    stop = time.monotonic() + within if within else float("inf")

    async def worker(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, place: tuple[str, int]
    ) -> None:
        try:
            for index in upcoming:
                if time.monotonic() > stop:
                    return
                sent = time.monotonic()
                try:
                    writer.write(ready[index])
                    status, body, open_ = await _answer(reader)
                    text = body.decode("utf-8", "replace") if answers else None
                except (OSError, asyncio.IncompleteReadError, ValueError) as error:
                    status, text, open_ = 0, f"{type(error).__name__}: {error}", False
                results[index] = (sent, time.monotonic(), status, text)
                if not open_:
                    writer.close()
                    reader, writer = await asyncio.open_connection(*place)
        finally:
            writer.close()

    await asyncio.gather(*(worker(*connection) for connection in connections))
    return [result for result in results if result is not None]
