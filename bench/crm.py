"""The CRM in and out: a signed HubSpot workflow webhook → card in Slack, and write-back
throughput to HubSpot at its published rate limit for private apps (100 requests per 10 s).

The app runs as in the other benchmarks, its Slack in a process of its own; the local
HubSpot (`tests.fake_hubspot`) runs in the app's process, held to HubSpot's limit here: a
request beyond 100 in the last 10 seconds is answered 429 with a `Retry-After`.
"""

from __future__ import annotations

import base64
import collections
import copy
import gc
import hashlib
import hmac
import json
import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlmodel import select

from bench.common import (
    SELLERS,
    App,
    Clients,
    Databases,
    Results,
    SlackProcess,
    Target,
    agreement_text,
    calls_since,
    card_lead,
    click,
    is_card,
    pace,
    settings,
    wait_until,
)
from bench.intake import UNPACED
from bot.agreement_file import parse_agreement
from bot.service.runtime import build, settle
from bot.writeback import CRM
from storage.models import Outbox
from tests import fake_hubspot
from tests.crm_examples import WORKFLOW
from tests.fakecrm import Call, _Plan
from tests.support import serve

CLIENT_SECRET = "hubspot-app-client-secret"
PUBLIC_URL = "https://baton.example.com"
PATH = "/api/crm/hubspot"
LIMIT, WINDOW = 100, 10.0  # HubSpot's published limit for a private app: 100 per 10 s
CARD_TARGET = Target("p99", "<", 1000, "p99 < 1 s")
RATE_TARGET = Target("median", ">=", 0.9 * LIMIT / WINDOW, "≥ 90% of 10 requests/s")
BURST = 50
CRM_SECTION = """
crm:
  hubspot:
    fields: {buying_stage: buying_stage}
"""


class LimitedHubSpot(fake_hubspot.FakeHubSpot):
    """The local HubSpot held to a rolling window: a request beyond `LIMIT` in the last
    `WINDOW` seconds is refused with 429 and a `Retry-After` of the seconds until one
    leaves the window. Refusals do not count against the window."""

    def __init__(self) -> None:
        super().__init__()
        self.window: collections.deque[float] = collections.deque()
        self.refused = 0
        self._window_lock = threading.Lock()

    def _plan_for(self, call: Call) -> _Plan | None:
        now = time.monotonic()
        with self._window_lock:
            while self.window and self.window[0] <= now - WINDOW:
                self.window.popleft()
            if len(self.window) >= LIMIT:
                self.refused += 1
                wait = math.ceil(self.window[0] + WINDOW - now)
                return _Plan("429", 1, None, retry_after=str(max(1, wait)))
            self.window.append(now)
        return super()._plan_for(call)


def signed(payload: dict[str, Any]) -> tuple[str, bytes, dict[str, str]]:
    """A workflow webhook as HubSpot sends it: X-HubSpot-Signature-v3 over method, URI,
    body and timestamp with the app's client secret."""
    body = json.dumps(payload).encode()
    stamp = str(int(time.time() * 1000))
    source = b"POST" + f"{PUBLIC_URL}{PATH}".encode() + body + stamp.encode()
    digest = hmac.new(CLIENT_SECRET.encode(), source, hashlib.sha256).digest()
    headers = {
        "Content-Type": "application/json",
        "X-HubSpot-Signature-v3": base64.b64encode(digest).decode(),
        "X-HubSpot-Request-Timestamp": stamp,
    }
    return PATH, body, headers


def contact(number: int) -> dict[str, Any]:
    """The realistic workflow payload, as another contact: its own id and e-mail."""
    payload = copy.deepcopy(WORKFLOW)
    vid = 100_000 + number
    payload["vid"] = payload["canonical-vid"] = vid
    payload["properties"]["email"] = {"value": f"contact{vid}@nordlys.dk", "versions": []}
    payload["properties"]["buying_stage"] = {"value": "solution_seeking", "versions": []}
    return payload


@contextmanager
def running(url: str, hubspot: LimitedHubSpot) -> Iterator[App]:
    """The real app with HubSpot configured, its Slack in another process."""
    with SlackProcess() as slack:
        configured = settings(
            url,
            slack,
            baton_public_url=PUBLIC_URL,
            hubspot_client_secret=CLIENT_SECRET,
            hubspot_token=fake_hubspot.TOKEN,
            hubspot_api_url=hubspot.url,
        )
        runtime = build(configured, parse_agreement(agreement_text() + CRM_SECTION))
        try:
            with serve(runtime) as baton:
                settle()
                yield App(baton, slack, runtime)
        finally:
            gc.unfreeze()
            runtime.engine.dispose()


def _taken(body: str | None) -> str | None:
    leads = json.loads(body or "{}").get("leads") or [{}]
    return leads[0].get("id")


def _cards(app: App, mark: int) -> dict[str, float]:
    return {
        lead: call.at
        for call in calls_since(app.slack, mark)
        if is_card(call) and (lead := card_lead(call))
    }


def webhook_to_card(
    results: Results, dbs: Databases, clients: Clients, quick: bool, backend: str
) -> None:
    """One webhook at a time, then a burst of 50 at once (Slack's per-channel pace lifted
    for the burst: Slack itself takes about one message a second into one channel)."""
    count = 10 if quick else 50
    one: list[float] = []
    burst: list[float] = []
    with (
        dbs.fresh(backend, "crm_card") as url,
        LimitedHubSpot() as hubspot,
        pace(UNPACED),
        running(url, hubspot) as app,
    ):
        for number in range(count + 2):
            mark = len(app.slack.calls)
            ((sent, _, status, body),) = clients.send(
                app.url, [signed(contact(number))], concurrency=1, answers=True
            )
            lead = _taken(body) if status == 200 else None
            if lead is None:
                results.failure(f"crm on {backend}: webhook answered {status}: {body}")
                return
            if not wait_until(lambda m=mark, x=lead: x in _cards(app, m), 20, 0.002):
                results.failure(f"crm on {backend}: no card for {lead} within 20 s")
                return
            if number >= 2:  # the first two warm the app up
                one.append((_cards(app, mark)[lead] - sent) * 1000)
            time.sleep(1.05)  # Slack's pace for one channel
        mark = len(app.slack.calls)
        answers = clients.send(
            app.url,
            [signed(contact(1000 + n)) for n in range(BURST)],
            concurrency=BURST,
            answers=True,
        )
        sent_at = {_taken(body): sent for sent, _, status, body in answers if status == 200}
        wait_until(lambda: len(_cards(app, mark).keys() & sent_at.keys()) >= BURST, 60, 0.05)
        cards = _cards(app, mark)
        burst = [(cards[lead] - sent) * 1000 for lead, sent in sent_at.items() if lead in cards]
    results.add(
        "crm", "Signed HubSpot webhook → card in Slack, one at a time", backend, "ms", one,
        target=CARD_TARGET,
    )  # fmt: skip
    results.add(
        "crm", f"Signed HubSpot webhook → card, burst of {BURST} (Slack pace lifted)",
        backend, "ms", burst, target=CARD_TARGET,
    )  # fmt: skip
    if len(burst) < BURST:
        results.failure(f"crm on {backend}: {BURST - len(burst)} of {BURST} cards missing")


def writeback(
    results: Results, dbs: Databases, clients: Clients, quick: bool, backend: str
) -> None:
    """N claims of leads from HubSpot → the owner and status written to HubSpot, through
    the outbox, against the 100-per-10-s limit."""
    count = 100 if quick else 300
    with dbs.fresh(backend, "crm_writeback") as url, LimitedHubSpot() as hubspot:
        for number, seller in enumerate(SELLERS):
            hubspot.add_owner(str(501 + number), f"user.{seller.lower()}@example.com")
        with pace(UNPACED), running(url, hubspot) as app:
            payloads = [contact(n) for n in range(count)]
            for payload in payloads:
                hubspot.add_contact(str(payload["vid"]), email=payload["properties"]["email"])
            answers = clients.send(
                app.url, [signed(p) for p in payloads], concurrency=8, answers=True
            )
            leads = [_taken(body) for _, _, status, body in answers if status == 200]
            if len(leads) < count:
                results.failure(f"crm on {backend}: {count - len(leads)} webhooks not taken")
                return
            wait_until(lambda: len(_cards(app, 0)) >= count, 120, 0.1)
            first = len(hubspot.calls)
            claims = clients.send(
                app.url,
                [click(SELLERS[n % len(SELLERS)], lead) for n, lead in enumerate(leads)],
                concurrency=8,
                answers=True,
            )
            start = min(sent for sent, *_ in claims)

            def rows() -> list[Outbox]:
                with app.runtime.ctx.sessions() as session:
                    return list(session.exec(select(Outbox).where(Outbox.kind == CRM)).all())

            wait_until(lambda: sum(r.sent_at is not None for r in rows()) >= count, 600, 0.2)
            end = time.monotonic()
            done = rows()
            calls = hubspot.calls[first:]
    delivered = [r for r in done if r.sent_at is not None]
    answered = [c for c in calls if 200 <= c.status < 300]
    seconds = end - start
    last = max((r.sent_at for r in delivered), default=None)
    patches = collections.Counter(  # the same change to the same contact, made twice
        (c.path, json.dumps(c.body, sort_keys=True))
        for c in answered
        if c.method == "PATCH" and "contacts" in c.path
    )
    twice = sum(1 for n in patches.values() if n > 1)
    limited = sum(1 for c in calls if c.status == 429)
    results.add(
        "crm", f"Write-back rows a second, {count} claims → HubSpot", backend, "/s",
        [len(delivered) / seconds], tail=False,
    )  # fmt: skip
    results.add(
        "crm", "HubSpot requests a second during that write-back (limit 10/s)", backend, "/s",
        [len(answered) / seconds], target=RATE_TARGET, tail=False,
    )  # fmt: skip
    results.note(
        "crm",
        f"{backend}: {len(delivered)} of {count} rows delivered ({len(answered)} HubSpot "
        f"requests answered, {limited} answered 429 and retried after their Retry-After); "
        f"{len(done) - len(delivered)} undelivered, {twice} changes written twice; "
        f"last row sent at {last}.",
    )
    if len(delivered) < count or twice:
        results.failure(
            f"crm on {backend}: {count - len(delivered)} rows lost, {twice} written twice"
        )
