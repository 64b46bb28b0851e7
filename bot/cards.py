"""A lead's card in the sales channel: the clocks run from the moment Sales can see the lead.

Sales cannot act on a lead it cannot see, so the claim and contact clocks start when the
card is first in the sales channel, not at hand-over: a card that waits its turn behind a
burst of hand-overs, or for Slack to come back, takes nothing from Sales' time. That wait,
from hand-over to card, is a figure of its own (the delivery delay: `/metrics` and the
scorecard).

Platform-neutral: whatever delivers the card says when it was shown, in the transaction
that records the delivery.
"""

from collections.abc import Collection
from datetime import datetime

from sqlmodel import Session

from bot import sla
from bot.agreement import Agreement
from bot.context import Context
from bot.pipeline import Stage
from storage import deadlines, leads
from storage.db import reading
from storage.models import Deadline, Feedback, Lead

_STARTS = {Stage.HANDED_OVER: (sla.CLAIM, sla.CONTACT), Stage.CLAIMED: (sla.CONTACT,)}


def starting(lead: Lead, running: Collection[str] = ()) -> list[str]:
    """The clocks that showing the lead's card starts: claim while nobody owns the lead,
    contact until it is contacted; none that is already `running` (or ran)."""
    if lead.forgotten_at is not None:
        return []
    return [kind for kind in _STARTS.get(Stage(lead.stage), ()) if kind not in running]


def preview(
    agreement: Agreement, lead: Lead, clocks: list[Deadline], at: datetime
) -> list[Deadline]:
    """The clocks as they will be if the card is shown at `at`, for the card's first post:
    it is rendered before Slack has it, and should already say by when to claim."""
    if lead.card_at is not None:
        return clocks
    kinds = starting(lead, {clock.kind for clock in clocks})
    due = [
        Deadline(lead_id=lead.id, kind=kind, opened_at=at, due_at=sla.deadline(agreement, at, kind))
        for kind in kinds
    ]
    return [*clocks, *due]


def shown(*, session: Session, agreement: Agreement, lead_id: str, at: datetime) -> bool:
    """The lead's card is in the sales channel since `at`: its clocks start now, once.

    Once whatever happens: a second report of the same card (a retried delivery that found
    the card already posted) changes nothing. A lead claimed before its card was seen (from
    `/baton open`) starts only its contact clock; a clock started before the card existed
    (a lead handed over before this rule) is left as it is.
    """
    if not leads.card_shown(session=session, lead_id=lead_id, at=at):
        return False
    lead = leads.get(session=session, lead_id=lead_id)
    assert lead is not None
    running = {clock.kind for clock in deadlines.of_lead(session=session, lead_id=lead_id)}
    kinds = starting(lead, running)
    for kind in kinds:
        sla.open_clock(session=session, agreement=agreement, lead_id=lead_id, kind=kind, start=at)
    leads.record(
        session=session,
        lead_id=lead_id,
        at=at,
        actor="baton",
        kind="card_posted",
        data={"clocks": kinds, "delay_seconds": (at - lead.received_at).total_seconds()},
    )
    return True


CardState = tuple[Lead, list[Deadline], Feedback | None]
"""What a lead's card is rendered from: the lead, its clocks, its latest feedback."""


def as_it_stands(session: Session, lead_id: str, lead: Lead | None = None) -> CardState | None:
    """What a lead's card shows now (a front end that answers a click with the card, as Teams
    does, renders it from this), read in `session`: in the transaction that just changed the
    lead, the card it answers with is the one its own change made. `lead`: the lead as that
    change returned it, not read again. The clocks and the feedback are read as rows, not
    objects of the session: statements change them, and an object held from before would be
    stale."""
    if lead is None:
        lead = leads.get(session=session, lead_id=lead_id)
    if lead is None:
        return None
    clocks, feedback = deadlines.as_they_stand(session=session, lead_id=lead_id)
    return lead, clocks, feedback


def as_they_stand(session: Session, done: dict[str, Lead | None]) -> dict[str, CardState | None]:
    """`as_it_stands` for several leads at once (claims decided together), in at most three
    queries however many: `done` names each lead with the lead as its change returned it, or
    None to read it."""
    unread = {lead_id for lead_id, lead in done.items() if lead is None}
    read = {lead.id: lead for lead in leads.get_all(session=session, lead_ids=unread)}
    standing = deadlines.as_they_stand_all(session=session, lead_ids=list(done))
    found: dict[str, CardState | None] = {}
    for lead_id, lead in done.items():
        lead = lead or read.get(lead_id)
        found[lead_id] = None if lead is None else (lead, *standing[lead_id])
    return found


def of_row(ctx: Context, lead_id: str | None) -> tuple[Lead | None, list[Deadline]]:
    """The lead an outbox row names (None for a row about no lead, or an erased one) and its
    clocks, as its card shows them."""
    with reading(ctx.sessions) as session:
        lead = leads.get(session=session, lead_id=lead_id) if lead_id else None
        return lead, deadlines.of_lead(session=session, lead_id=lead.id) if lead else []
