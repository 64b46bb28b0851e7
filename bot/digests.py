"""Digests: the reminders and escalations for one person close together, as one message.

Business-time clocks make storms: every lead that came in over a weekend falls due in the same
minute of Monday morning. One DM per lead would bury the sales manager (and, at Slack's pace
of a message a second per conversation, come minutes late). So every notice goes into the
digest of its conversation for the current minute (`BUCKET`): the first is posted at once,
and alone it reads like a single reminder or escalation; the others update that message in
place, at most once a second (`UPDATE_EVERY`), naming each lead with what the reader may do
about it. A person thereby gets at most two new messages in any minute, and a lead shows
within about a second of the sweep that noticed it. A lead that is dealt with meanwhile shows
as dealt with on the next update, for a day (`KEPT`).

Reminders of unclaimed leads go to the sales channel: a lone one as a reply in its card's
thread, as before; a second in the same minute starts a digest in the channel.

Exactly once: a notice is written as a digest item in the transaction that causes it (the
sweep's), under a unique key (clock, kind, step, due time); a digest's post is an outbox row,
which goes out once and is found again in Slack after a crash; an update shows the digest as
it stands, so sending it twice does no harm. A digest has at most one outbox row pending
(`queued`), so its updates reach Slack one at a time, in order.

Digests change last in a transaction (`before_commit`), in one order (conversation, bucket):
two sweeps on two replicas, or a sweep and a claim, take every other lock first and digest
locks in the same order, so they never deadlock.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session

from bot import messages
from bot.agreement import Agreement
from bot.context import Context
from bot.delivery.interface import Sent
from storage import digest_rows as store
from storage.db import reading
from storage.models import Deadline, DigestItem, Lead

BUCKET = timedelta(minutes=1)
UPDATE_EVERY = timedelta(seconds=1)
KEPT = timedelta(days=1)
ESCALATION, REMINDER = "escalation", "reminder"
RICH = 20
"""Leads shown as a section with their actions; the rest as one line each."""
_PENDING = "baton.digests"


@dataclass(frozen=True)
class Notice:
    """A reminder or an escalation step for one person (or the sales channel), as a fact."""

    recipient: str
    kind: str
    lead_id: str
    deadline_id: int
    clock: str
    step: int
    due_at: datetime
    planned: datetime
    at: datetime
    template: str
    """The message that says this notice alone."""
    facts: dict[str, Any]
    threaded: bool = False
    """Alone in its minute, it is a reply in the card's thread (unclaimed leads)."""


@dataclass
class _Pending:
    notices: list[Notice] = field(default_factory=list)
    touched: dict[str, datetime] = field(default_factory=dict)


def _pending(session: Session) -> _Pending:
    return session.info.setdefault(_PENDING, _Pending())


def notify(session: Session, notice: Notice) -> None:
    """Name the notice in its digest when the caller's transaction commits."""
    _pending(session).notices.append(notice)


def touched(session: Session, *, lead_id: str, at: datetime) -> None:
    """The lead changed: the digests naming it show that, when the transaction commits."""
    _pending(session).touched.setdefault(lead_id, at)


def bucket_of(at: datetime) -> datetime:
    size = BUCKET.total_seconds()
    return datetime.fromtimestamp(at.timestamp() // size * size, UTC)


@event.listens_for(OrmSession, "before_commit")
def _before_commit(session: OrmSession) -> None:
    pending = session.info.pop(_PENDING, None)
    if pending is not None and (pending.notices or pending.touched):
        _settle(session, pending)  # type: ignore[arg-type]


@event.listens_for(OrmSession, "after_rollback")
def _after_rollback(session: OrmSession) -> None:
    session.info.pop(_PENDING, None)


def _settle(session: Session, pending: _Pending) -> None:
    """Write the transaction's notices into their digests and queue what Slack must be told."""
    new: dict[tuple[str, datetime], list[Notice]] = {}
    for notice in pending.notices:
        new.setdefault((notice.recipient, bucket_of(notice.at)), []).append(notice)
    old: dict[tuple[str, datetime], int] = {}
    if pending.touched:
        since = min(pending.touched.values()) - KEPT
        for digest_id, recipient, bucket in store.naming(
            session=session, lead_ids=list(pending.touched), since=since
        ):
            old[(recipient, bucket)] = digest_id
    now = max([n.at for n in pending.notices] + list(pending.touched.values()))
    for key in sorted(set(new) | set(old)):
        recipient, bucket = key
        notices = new.get(key, [])
        if notices:
            digest_id = store.open_digest(
                session=session, recipient=recipient, bucket=bucket, at=notices[0].at
            )
        else:
            digest_id = old[key]
        digest = store.touch(session=session, digest_id=digest_id)
        if notices:
            alone = (
                len(notices) == 1
                and notices[0].threaded
                and not store.count_items(session=session, digest_id=digest_id)
            )
            store.add_items(
                session=session, items=[_item(digest_id, n, in_thread=alone) for n in notices]
            )
            if alone:
                _reply_alone(session, notices[0])
                continue
        elif digest.message_id is None and not digest.queued:
            continue  # a lone reminder, a reply in its card's thread: nothing to update
        if digest.queued:
            continue  # the row pending shows this change too
        store.set_queued(session=session, digest_id=digest_id, queued=True)
        posted = digest.message_id is not None
        messages.digest(
            session=session,
            digest_id=digest_id,
            recipient=recipient,
            at=now,
            update=posted,
            not_before=digest.updated_at + UPDATE_EVERY if posted and digest.updated_at else None,
        )


def _item(digest_id: int, notice: Notice, *, in_thread: bool) -> dict[str, Any]:
    """`in_thread`: it went alone, as a reply in its card's thread, and no digest repeats it."""
    return {
        "digest_id": digest_id,
        "lead_id": notice.lead_id,
        "deadline_id": notice.deadline_id,
        "kind": notice.kind,
        "clock": notice.clock,
        "step": notice.step,
        "due_at": notice.due_at,
        "planned_at": notice.planned,
        "added_at": notice.at,
        "shown_at": None,
        "facts": {"template": notice.template, "in_thread": in_thread, **notice.facts},
    }


def _reply_alone(session: Session, notice: Notice) -> None:
    messages.reply_in_thread(
        session=session,
        lead_id=notice.lead_id,
        template=notice.template,
        at=notice.at,
        **notice.facts,
    )


def shown(
    session: Session,
    *,
    digest_id: int,
    version: int,
    at: datetime,
    item_ids: list[int],
    posted: tuple[str, str, str] | None = None,
) -> None:
    """The platform shows `version` of the digest (`posted`: just posted, at its platform,
    conversation and message id): record it, and if it changed meanwhile, queue the
    next update (a second from now), else nothing is pending for it any more."""
    digest = store.shown(
        session=session,
        digest_id=digest_id,
        version=version,
        at=at,
        item_ids=item_ids,
        posted=posted,
    )
    if digest.version > version:
        messages.digest(
            session=session,
            digest_id=digest_id,
            recipient=digest.recipient,
            at=at,
            update=True,
            not_before=at + UPDATE_EVERY,
        )
    else:
        store.set_queued(session=session, digest_id=digest_id, queued=False)


def sent(
    digest: "Shown", *, version: int, where: tuple[str, str, str] | None, at: datetime
) -> Sent:
    """What a transport answers once the platform shows `version` of the digest (`where`:
    just posted, at its platform, conversation and message id): the post, and the record
    (`shown`) the worker writes with the row's outcome."""

    def record(session: Session) -> None:
        shown(
            session,
            digest_id=digest.digest_id,
            version=version,
            at=at,
            item_ids=digest.item_ids,
            posted=where,
        )

    return Sent(
        message_id=where[2] if where else None,
        conversation=where[1] if where else None,
        at=at,
        record=record,
        planned=list(digest.first_shown),
    )


# what a digest says ----------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One lead in a digest, as it stands now."""

    lead: Lead
    kind: str
    clock: str
    due_at: datetime
    late_seconds: float
    state: str
    """open, claimed, contacted, feedback_given, extended or removed."""
    owner: str | None
    until: datetime | None
    actions: list[dict[str, str]]
    link: str | None


@dataclass(frozen=True)
class Shown:
    """A digest ready to render: the message, where it goes, and what it covers."""

    digest_id: int
    recipient: str
    conversation: str | None
    message_id: str | None
    """Where it is posted, once it is."""
    version: int
    template: str
    facts: dict[str, Any]
    item_ids: list[int]
    first_shown: list[datetime]
    """When each item shown for the first time was meant to go out (for the clock's lag)."""


def current(
    ctx: Context,
    digest_id: int,
    *,
    link: Callable[[Lead], str | None],
    pack: Callable[[list["Row"]], list[list["Row"]]],
) -> Shown | None:
    """`view` of the digest as it stands now, read in a session of its own: what a transport
    renders, whether it posts the digest or updates it."""
    now = ctx.clock()
    with reading(ctx.sessions) as session:
        return view(session, digest_id, agreement=ctx.agreement, now=now, link=link, pack=pack)


def view(
    session: Session,
    digest_id: int,
    *,
    agreement: Agreement,
    now: datetime,
    link: Callable[[Lead], str | None],
    pack: Callable[[list["Row"]], list[list["Row"]]],
) -> Shown | None:
    """The digest as it stands: alone and open, a lead reads as its own reminder or escalation;
    otherwise the list, oldest first, the first `RICH` with their actions, then the rest as
    lines in as many blocks as the front end's message has room for (`pack`)."""
    digest = store.get(session=session, digest_id=digest_id)
    if digest is None:
        return None
    named = [
        found
        for found in store.items_of(session=session, digest_id=digest_id)
        if not found[0].facts.get("in_thread")
    ]
    rows = [_row(agreement, now, item, lead, deadline, link) for item, lead, deadline in named]
    in_channel = digest.recipient == agreement.channels.sales
    lines = pack(rows[RICH:])
    shown_count = RICH + sum(len(block) for block in lines)
    covered = named[:shown_count]
    if len(rows) == 1 and rows[0].state == "open" and not in_channel:
        item, lead, _ = named[0]
        facts = dict(item.facts)
        template = facts.pop("template")
        facts.pop("in_thread", None)
        facts.update(lead=lead, card_link=rows[0].link)
    else:
        template = "digest"
        facts = {
            "rich": rows[:RICH],
            "lines": lines,
            "more": max(0, len(rows) - shown_count),
            "in_channel": in_channel,
            "overdue": sum(r.state == "open" and r.kind == ESCALATION for r in rows),
            "due_soon": sum(r.state == "open" and r.kind == REMINDER for r in rows),
            "done": sum(r.state != "open" for r in rows),
        }
    return Shown(
        digest_id=digest_id,
        recipient=digest.recipient,
        conversation=digest.conversation,
        message_id=digest.message_id,
        version=digest.version,
        template=template,
        facts=facts,
        item_ids=[item.id for item, _, _ in covered if item.id is not None],
        first_shown=[item.planned_at for item, _, _ in covered if item.shown_at is None],
    )


DONE = {"claim": "claimed", "contact": "contacted", "feedback": "feedback_given"}


def _row(
    agreement: Agreement,
    now: datetime,
    item: DigestItem,
    lead: Lead,
    deadline: Deadline,
    link: Callable[[Lead], str | None],
) -> Row:
    until = None
    if lead.forgotten_at is not None:
        state = "removed"
    elif deadline.resolved_at is not None:
        state = DONE.get(item.clock, "claimed")
    elif deadline.due_at != item.due_at:
        state, until = "extended", deadline.due_at
    else:
        state = "open"
    late = agreement.calendar.elapsed(item.due_at, now) if now > item.due_at else timedelta(0)
    return Row(
        lead=lead,
        kind=item.kind,
        clock=item.clock,
        due_at=item.due_at,
        late_seconds=late.total_seconds(),
        state=state,
        owner=lead.owner,
        until=until,
        actions=_actions(item, lead, deadline) if state == "open" else [],
        link=link(lead),
    )


def _actions(item: DigestItem, lead: Lead, deadline: Deadline) -> list[dict[str, str]]:
    """What the reader may do about the lead from the digest, as its role allows: the domain's
    action names, each with its lead (and for an extension its clock); the front end's
    template turns them into its buttons."""
    role = item.facts.get("role")
    if role == "sales_manager":
        found = [{"id": "assign", "lead": lead.id}]
        if deadline.extended_at is None:
            found.append({"id": "extend", "lead": lead.id, "clock": item.clock})
        return found
    if role == "owner":
        return [
            {"id": "mark_contacted", "lead": lead.id},
            {"id": "give_feedback", "lead": lead.id},
            {"id": "release", "lead": lead.id},
        ]
    if role == "sellers":
        return [{"id": "claim", "lead": lead.id}]
    return []
