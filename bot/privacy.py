"""Forgetting a person: on request (`baton forget EMAIL`) or when the agreement's retention ends.

A lead holds a person's data in many places: the lead row, the history of events (a feedback
note, the reason a deadline was extended), feedback, clocks, queued Slack messages, and the
Slack messages already posted. Erasure rewrites all of them in one transaction, so a lead is
never left half erased, and keeps the row itself, anonymised, so the scorecard still counts
what Marketing handed over and how fast Sales answered.

What the chat platform already shows is rewritten through the outbox like every other
message: the lead card is updated to a "removed on request" card, every other message Baton
posted about the lead (thread replies, channel posts, DMs) to "removed on request", by the
conversation and message id the platform gave it, and the digests that name it show it as
removed. A message whose conversation was never recorded (a DM sent before Baton kept the
conversation a platform opened for it) is returned in `Erasure.left`, to be deleted by hand.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from bot import digests, messages, rules
from bot.context import Context
from storage import leads
from storage import personal_data as store
from storage.db import transaction
from storage.models import Lead

log = logging.getLogger(__name__)

REMOVED = "removed on request"
FORGOTTEN = "forgotten"
RETENTION = "retention"

# Event data that describes what happened to a lead, never who the lead is: Slack user ids of
# the team, clock names, dates, outcomes and the codes of rules. Any other text is the kind a
# person typed (a note, a reason, how someone was reached) and is removed.
STRUCTURED = frozenset(
    {
        "qualified",
        "from",
        "to",
        "owner",
        "user",
        "by",
        "clock",
        "kind",
        "due_at",
        "step",
        "notify",
        "outcome",
        "missed_rules",
        "recheck_on",
        "stage",
        "why",
    }
)


@dataclass(frozen=True)
class PostedMessage:
    """A message Baton posted about a lead, still showing what it showed then, whose
    conversation is not known: `recipient` is whom it was for (a person, for a DM)."""

    kind: str
    recipient: str | None
    message_id: str


@dataclass
class Erasure:
    """What one erasure did, for the person who asked and for the log."""

    lead_ids: list[str] = field(default_factory=list)
    cards: int = 0
    """Lead cards queued to be rewritten as "removed on request"."""
    cancelled: int = 0
    """Queued Slack messages about these leads that had not gone out and now never will."""
    rewritten: int = 0
    """Replies, posts and DMs already in Slack, queued to be rewritten as "removed on request"."""
    left: list[PostedMessage] = field(default_factory=list)
    """Messages already in Slack that Baton cannot rewrite (see the module docstring)."""

    def add(self, other: "Erasure") -> None:
        self.lead_ids += other.lead_ids
        self.cards += other.cards
        self.cancelled += other.cancelled
        self.rewritten += other.rewritten
        self.left += other.left


def redact_reason(reason: Any) -> Any:
    """A qualification reason without the lead's own words: its facts that quote them
    (`rules.PERSONAL_FACTS`, the title) are replaced. The code stays, so reports still group
    it; the definition's own values stay, so it still says what was asked for."""
    if not isinstance(reason, dict):
        return REMOVED
    facts = dict(reason.get("facts") or {})
    for name in rules.PERSONAL_FACTS & facts.keys():
        if facts[name] is not None:
            facts[name] = f"({REMOVED})"
    if reason.get("code") == rules.LEGACY:
        facts["text"] = REMOVED
    return {**reason, "facts": facts}


def scrub_event_data(data: dict[str, Any], *, kind: str) -> dict[str, Any]:
    """Keep what happened, drop what a person wrote.

    The `reason` of feedback is the code of one of the agreement's feedback reasons (a choice
    from a list) and stays; any other `reason` (an extension's) is free text and goes.
    """
    clean: dict[str, Any] = {}
    for key, value in data.items():
        if key == "reasons" and isinstance(value, list):
            clean[key] = [redact_reason(item) for item in value]
        elif key == "reason":
            clean[key] = value if value is None or kind == "feedback" else REMOVED
        elif key in STRUCTURED or value is None or isinstance(value, bool | int | float):
            clean[key] = value
        else:
            clean[key] = REMOVED
    return clean


BLANKED: dict[str, str | None] = {
    "name": REMOVED,
    "company": REMOVED,
    "email": "",
    "title": None,
    "phone": None,
    "challenges": None,
    "budget": None,
    "external_id": None,
    "external_key": None,
}
"""The columns of a lead that say who it is, and what each holds once it is anonymised."""


def anonymise(lead: Lead, at: datetime) -> None:
    """Blank out who the lead is; keep what the scorecard counts.

    Country, industry, size, revenue, source, buying stage, stage, owner and every timestamp
    stay. The company goes too: with the rest of the row it can single a person out.
    """
    for column, blank in BLANKED.items():
        setattr(lead, column, blank)
    lead.activity = [
        {"at": step.get("at"), "kind": step.get("kind")}
        for step in lead.activity or []
        if isinstance(step, dict)
    ]
    lead.reasons = [redact_reason(reason) for reason in lead.reasons or []]
    lead.recheck_on = None  # nobody is to look at this lead again
    lead.forgotten_at = at


def _erase(
    session: Session, ctx: Context, lead: Lead, *, now: datetime, by: str, why: str
) -> Erasure:
    """Erase one locked lead everywhere Baton keeps it, in the caller's transaction."""
    done = Erasure(lead_ids=[lead.id])
    # Clocks first: a sweep advancing one holds its lock, and must not queue a reminder
    # after the outbox below was read.
    for deadline in store.clocks_of(session=session, lead_id=lead.id):
        if deadline.extension_reason:
            deadline.extension_reason = REMOVED
        if deadline.resolved_at is None:
            deadline.next_at = None  # stopped, not met: nobody can contact a forgotten lead
    card_in_flight = False
    for row in store.outbox_of(session=session, lead_id=lead.id):
        if row.sent_at is not None:
            template = row.payload.get("template")
            row.payload = {"template": template} if template else {}
            if row.message_id and row.kind != messages.CARD:
                if row.conversation:
                    messages.erase(
                        session=session,
                        conversation=row.conversation,
                        message_id=row.message_id,
                        at=now,
                    )
                    done.rewritten += 1
                else:
                    done.left.append(
                        PostedMessage(
                            kind=row.kind, recipient=row.recipient, message_id=row.message_id
                        )
                    )
        elif row.taken_until is not None and row.taken_until > now:
            # A courier is sending it right now; the card update queued below waits for it.
            card_in_flight = card_in_flight or row.kind == messages.CARD
        else:
            session.delete(row)
            done.cancelled += 1
    for event in store.events_of(session=session, lead_id=lead.id):
        event.data = scrub_event_data(event.data or {}, kind=event.kind)
    for feedback in store.feedback_of(session=session, lead_id=lead.id):
        feedback.note = None
    anonymise(lead, now)
    digests.touched(session, lead_id=lead.id, at=now)  # they show the lead as removed
    if lead.card_message_id or card_in_flight:
        messages.refresh_card(session=session, lead_id=lead.id, at=now)
        done.cards = 1
    leads.record(
        session=session,
        lead_id=lead.id,
        at=now,
        actor=by[:64],
        kind=FORGOTTEN,
        data={"why": why, "card_rewritten": bool(done.cards), "messages_left": len(done.left)},
    )
    return done


def matching(ctx: Context, *, email: str) -> int:
    """How many leads an erasure of `email` would touch, to confirm before doing it."""
    with ctx.sessions() as session:
        return len(store.leads_with_email(session=session, address=email, lock=False))


def forget(ctx: Context, *, email: str, by: str) -> Erasure:
    """Erase every lead with this email address (any letter case), at once or not at all.

    Asking again finds nothing and changes nothing: forgotten leads have no address left.
    """
    now = ctx.clock()
    result = Erasure()
    with transaction(ctx.sessions) as session:
        for lead in store.leads_with_email(session=session, address=email):
            result.add(_erase(session, ctx, lead, now=now, by=by, why="request"))
    for lead_id in result.lead_ids:
        log.info("lead forgotten on request", extra={"lead_id": lead_id})
    if result.lead_ids:
        ctx.wake()
    return result


def forget_expired(ctx: Context, *, batch: int = 200) -> Erasure:
    """Erase the leads received longer ago than `retention.personal_data_days`.

    Each batch is one transaction; replicas running this at once skip each other's rows.
    """
    retention = ctx.agreement.retention
    result = Erasure()
    if retention is None:
        return result
    now = ctx.clock()
    before = now - timedelta(days=retention.personal_data_days)
    while True:
        with transaction(ctx.sessions) as session:
            expired = store.received_before(session=session, before=before, limit=batch)
            for lead in expired:
                result.add(_erase(session, ctx, lead, now=now, by=RETENTION, why=RETENTION))
        if len(expired) < batch:
            break
    for lead_id in result.lead_ids:
        log.info("lead forgotten: retention ended", extra={"lead_id": lead_id})
    if result.lead_ids:
        ctx.wake()
    return result
