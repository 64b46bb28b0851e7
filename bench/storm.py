"""9. The clock in a storm (1,000 deadlines in a minute) and 10. deadlines a few ms apart.

Real `baton run` processes (one, and two replicas on one database) against the fake Slack in a
process of its own, which keeps Slack's pace of about one post a second per conversation
(`FakeSlack.pace_posts`: a post beyond it is refused with 429), with the courier's own pace
at Slack's (`BATON_SLACK_CHANNEL_RATE=1`). The leads and their clocks are written straight
into the database, cards already posted, so the figures are the clock's and the digests'.
What a person sees is read from what the fake Slack recorded: a lead "shows" in its
recipient's DMs with the first message or update there that links to its card.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import insert
from sqlmodel import select

from bench.common import (
    SELLERS,
    Databases,
    Results,
    SlackProcess,
    Target,
    agreement_text,
    hand_over_request,
    monotonic_offset,
    pace,
    percentile,
    processes,
    qualified_bodies,
    wait_healthy,
    wait_until,
)
from bot.demo.slack_standin import Call
from storage.db import make_engine, session_factory
from storage.models import Deadline, DigestItem, Lead

OWNERS = SELLERS[:5]
SHOWN_P99 = Target("p99", "<", 3, "p99 < 3 s")
SHOWN_MAX = Target("median", "<", 5, "max < 5 s")
NEW_DMS = Target("median", "<=", 2, "≤ 2")
DUPLICATES = Target("median", "<=", 0, "0")
QUEUED_MAX = Target("median", "<", 1, "max < 1 s")
LINK = re.compile(r"/archives/C0SALES/p(\d{16})")


def _ladder(*steps: str) -> str:
    """The benchmark agreement with this escalation ladder and no reminders."""
    text = agreement_text(remind_before="4h", claim_within="4h")
    start, end = text.index("  escalation:"), text.index("feedback_reasons:")
    return text[:start] + "  escalation:\n" + "".join(f"    - {s}\n" for s in steps) + text[end:]


STORM_AGREEMENT = _ladder("{after: 0s, notify: owner}", "{after: 2h, notify: ceo}")
STAGGERED_AGREEMENT = _ladder("{after: 0s, notify: sales_manager}", "{after: 2h, notify: ceo}")


@dataclass(frozen=True)
class Seeded:
    due: dict[str, datetime]
    """Each lead's deadline."""
    link: dict[str, str]
    """Each lead by the digits of its card's link (`…/archives/C0SALES/p<digits>`)."""
    recipient: dict[str, str]
    """Each lead's recipient, as its DM channel (`D…`)."""


def seed(url: str, count: int, *, start: datetime, spacing: timedelta, kind: str) -> Seeded:
    """`count` leads with cards in the sales channel and one open clock each, due `spacing`
    apart from `start`: claim clocks of unclaimed leads, or contact clocks of leads claimed by
    five sellers in turn."""
    now = datetime.now(UTC)
    leads, clocks = [], []
    seeded = Seeded({}, {}, {})
    for number in range(count):
        lead_id = f"{number:08d}" + os.urandom(12).hex()
        owner = OWNERS[number % len(OWNERS)] if kind == "contact" else None
        ts = f"1700000000.{number:06d}"
        due = start + spacing * number
        leads.append(
            {
                "id": lead_id,
                "name": f"Storm {number:04d}",
                "email": f"storm{number}@nordlys.dk",
                "company": f"Nordlys {number:04d} A/S",
                "title": "CIO",
                "country": "DK",
                "industry": "manufacturing",
                "employees": 240,
                "activity": [],
                "qualified": True,
                "reasons": [],
                "stage": "claimed" if owner else "handed_over",
                "owner": owner,
                "handed_over_by": "api",
                "received_at": now - timedelta(hours=4),
                "claimed_at": now - timedelta(hours=3) if owner else None,
                "card_platform": "slack",
                "card_conversation": "C0SALES",
                "card_message_id": ts,
            }
        )
        clocks.append(
            {
                "lead_id": lead_id,
                "kind": kind,
                "opened_at": now - timedelta(hours=4),
                "due_at": due,
                "remind_at": None,
                "next_at": due,
                "steps_done": 0,
            }
        )
        seeded.due[lead_id] = due
        seeded.link[ts.replace(".", "")] = lead_id
        seeded.recipient[lead_id] = "D" + (owner or "U0MANAGER")[1:]
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(insert(Lead.__table__), leads)
            connection.execute(insert(Deadline.__table__), clocks)
    finally:
        engine.dispose()
    return seeded


def _wake(urls: list[str]) -> None:
    """One hand-over to each replica: a change makes it look at the deadlines again, as a
    hand-over does in production (the leads above were written behind its back)."""
    bodies = qualified_bodies(len(urls), seed=11, prefix=f"wake-{time.monotonic_ns()}")
    for url, body in zip(urls, bodies, strict=True):
        path, content, headers = hand_over_request(body)
        httpx.post(f"{url}{path}", content=content, headers=headers, timeout=30)


def _conversation(channel: str) -> str:
    """A DM as its D… channel, whether a call named the user or the channel."""
    return "D" + channel[1:] if channel.startswith("U") else channel


@dataclass
class Seen:
    """What the recipients' DMs showed, read from the fake Slack's calls as they come."""

    seeded: Seeded
    offset: float
    first: dict[str, float] = field(default_factory=dict)
    """When each lead first showed in its recipient's DMs (wall clock)."""
    messages: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    """The leads each DM message names, as it stands at the end."""
    posts: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    """When each recipient got a new DM."""
    updates: list[float] = field(default_factory=list)
    refused: int = 0
    _read: int = 0

    def read(self, calls: list[Call]) -> Seen:
        for call in calls[self._read :]:
            self._call(call)
        self._read = len(calls)
        return self

    def _call(self, call: Call) -> None:
        if call.answered == "429":
            self.refused += 1
        if call.answered != "ok" or call.method not in ("chat.postMessage", "chat.update"):
            return
        at = call.at + self.offset
        channel = _conversation(str(call.params.get("channel", "")))
        if call.method == "chat.update":
            self.updates.append(at)
        if not channel.startswith("D"):
            return
        text = json.dumps(call.params.get("blocks", "")) + str(call.params.get("text", ""))
        link, recipient = self.seeded.link, self.seeded.recipient
        named = {link[d] for d in LINK.findall(text) if d in link}
        named = {lead for lead in named if recipient[lead] == channel}
        for lead in named:
            self.first.setdefault(lead, at)
        ts = str(call.params.get("ts") or (call.response or {}).get("ts"))
        self.messages[(channel, ts)] = named
        if call.method == "chat.postMessage":
            self.posts[channel].append(at)


def _most_in_a_minute(times: list[float]) -> int:
    times = sorted(times)
    return max(
        (sum(1 for t in times[i:] if t - start < 60) for i, start in enumerate(times)), default=0
    )


def _queued(url: str, seeded: Seeded) -> list[float]:
    """From each deadline to the sweep that queued its notice."""
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            items = session.exec(select(DigestItem)).all()
    finally:
        engine.dispose()
    return [
        (item.added_at - seeded.due[item.lead_id]).total_seconds()
        for item in items
        if item.lead_id in seeded.due
    ]


def _replicas(count: int) -> str:
    return "one process" if count == 1 else f"{count} replicas"


def _run(
    dbs: Databases,
    backend: str,
    replicas: int,
    *,
    agreement: str,
    count: int,
    spacing: timedelta,
    kind: str,
) -> tuple[Seeded, Seen, list[float]]:
    with (
        pace("1"),  # the courier at Slack's own pace, whatever the environment says
        dbs.fresh(backend, "storm") as url,
        SlackProcess(paced=True) as slack,
        processes(url, slack, replicas, agreement) as batons,  # type: ignore[arg-type]
    ):
        for baton in batons:
            wait_healthy(baton.port)
        start = datetime.now(UTC) + timedelta(seconds=3)
        seeded = seed(url, count, start=start, spacing=spacing, kind=kind)
        _wake([baton.url for baton in batons])
        seen = Seen(seeded, monotonic_offset())
        last = start + spacing * count
        wait_until(
            lambda: len(seen.read(slack.calls).first) >= count,
            timeout=(last - datetime.now(UTC)).total_seconds() + 30,
            every=0.5,
        )
        time.sleep(3)  # long enough for a message too many to show up, if there were one
        seen.read(slack.calls)
        queued = _queued(url, seeded)
    return seeded, seen, queued


def storm(results: Results, dbs: Databases, quick: bool, backend: str, replicas: int) -> None:
    """1,000 contact deadlines of leads owned by five sellers, falling due within a minute;
    the first escalation step tells the owner."""
    count, minute = (250, 15) if quick else (1000, 60)
    seeded, seen, queued = _run(
        dbs,
        backend,
        replicas,
        agreement=STORM_AGREEMENT,
        count=count,
        spacing=timedelta(seconds=minute) / count,
        kind="contact",
    )
    where = f"{count:,} in {minute} s, 5 recipients, {_replicas(replicas)}"
    _report(results, "storm", backend, where, seeded, seen, queued, count)
    per_minute = [_most_in_a_minute(times) for times in seen.posts.values()]
    results.add(
        "storm",
        f"New DMs per recipient in any minute (most), {where}",
        backend,
        "",
        [max(per_minute, default=0)],
        target=NEW_DMS,
        tail=False,
    )


def staggered(results: Results, dbs: Databases, quick: bool, backend: str, replicas: int) -> None:
    """500 claim deadlines 3 ms apart, falling due while sweeps run; the manager is told."""
    count = 200 if quick else 500
    seeded, seen, queued = _run(
        dbs,
        backend,
        replicas,
        agreement=STAGGERED_AGREEMENT,
        count=count,
        spacing=timedelta(milliseconds=3),
        kind="claim",
    )
    where = f"{count:,} deadlines 3 ms apart, {_replicas(replicas)}"
    results.add(
        "staggered",
        f"Deadline → escalation queued (most), {where}",
        backend,
        "s",
        [max(queued, default=float("nan"))],
        target=QUEUED_MAX,
        tail=False,
    )
    _report(results, "staggered", backend, where, seeded, seen, queued, count, targets=False)


def _report(
    results: Results,
    section: str,
    backend: str,
    where: str,
    seeded: Seeded,
    seen: Seen,
    queued: list[float],
    count: int,
    *,
    targets: bool = True,
) -> None:
    missing = count - len(seen.first)
    if missing:
        results.failure(f"{section} on {backend}, {where}: {missing} leads never showed in DMs")
    lags = [seen.first[lead] - seeded.due[lead].timestamp() for lead in seen.first]
    results.add(
        section,
        f"Deadline → lead shown in its recipient's DMs, {where}",
        backend,
        "s",
        lags,
        target=SHOWN_P99 if targets else None,
    )
    results.add(
        section,
        f"… the latest of them, {where}",
        backend,
        "s",
        [max(lags, default=float("nan"))],
        target=SHOWN_MAX if targets else None,
        tail=False,
    )
    if section == "storm":
        results.add(
            section,
            f"… of which deadline → notice queued (the sweep), {where}",
            backend,
            "s",
            queued,
        )
    named = Counter(lead for leads in seen.messages.values() for lead in leads)
    duplicates = sum(n - 1 for n in named.values() if n > 1)
    results.add(
        section,
        f"Leads named in more than one DM, {where}",
        backend,
        "",
        [duplicates],
        target=DUPLICATES if targets else None,
        tail=False,
    )
    span = (max(seen.updates) - min(seen.updates)) / 60 if len(seen.updates) > 1 else 0
    results.note(
        section,
        f"{backend}, {where}: {sum(len(t) for t in seen.posts.values())} new DMs to "
        f"{len(seen.posts)} recipients, {len(seen.updates)} chat.update calls (digests and "
        f"the cards turning overdue) over {span:.1f} min, {seen.refused} posts refused by "
        f"Slack's pace (429), {percentile(queued, 99):.2f} s p99 from deadline to notice queued",
    )
