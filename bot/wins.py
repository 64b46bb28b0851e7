"""The loop closes: a deal won in the CRM marks the lead it came from won, with the deal's
value, so the scorecard can show what Marketing's leads became (`bot.reports.won_deals`).

The CRM is the record of deals, so a deal won there wins the lead whatever stage Baton had
it in, and stops its clocks: nobody is reminded or escalated about a customer. Each deal is
recorded once per lead (a webhook the CRM sends again changes nothing), as a `deal_won`
event holding the CRM, the deal, its value and currency.
"""

from dataclasses import dataclass

from sqlmodel import Session

from bot import sla
from bot.context import Context
from bot.ownership import changed
from bot.pipeline import Move, Stage, next_stage
from storage import deadlines, leads
from storage.db import transaction
from storage.models import Lead

EVENT = "deal_won"


@dataclass(frozen=True)
class Deal:
    """A deal the CRM says is won, and how to find its lead: by the ids the lead was handed
    over with (`external_id`), else by the e-mail of the deal's person."""

    crm: str
    deal: str
    external_ids: tuple[str, ...]
    emails: tuple[str, ...]
    value: float | None
    currency: str | None


def deal_won(ctx: Context, deal: Deal) -> str | None:
    """Mark the deal's lead won; its id, or None when no lead of Baton's is the deal's."""
    now = ctx.clock()
    with transaction(ctx.sessions) as session:
        lead = _lead_of(session, deal)
        if lead is None:
            return None
        session.refresh(lead, with_for_update=True)  # one writer per lead at a time
        done = any(
            event.kind == EVENT
            and event.data.get("crm") == deal.crm
            and event.data.get("deal") == deal.deal
            for event in leads.history(session=session, lead_id=lead.id)
        )
        if done:
            return lead.id
        if lead.stage != Stage.WON:
            stage = next_stage(lead.stage, Move.DEAL_WON)
            leads.move(session=session, lead_id=lead.id, from_stage=lead.stage, to_stage=stage)
            deadlines.resolve(session=session, lead_id=lead.id, kinds=sla.KINDS, at=now)
        data = {"crm": deal.crm, "deal": deal.deal, "value": deal.value, "currency": deal.currency}
        changed(session, lead_id=lead.id, at=now, actor=deal.crm, kind=EVENT, data=data)
    ctx.wake()
    return lead.id


def _lead_of(session: Session, deal: Deal) -> Lead | None:
    """The lead handed over as one of the deal's CRM objects, else the latest open lead with
    one of its e-mails; never an erased one."""
    for external_id in deal.external_ids:
        found = leads.by_external_id(session=session, external_id=external_id)
        if found is not None and found.forgotten_at is None:
            return found
    wanted = {email.casefold() for email in deal.emails}
    ids = [
        lead_id
        for email, _, lead_id in leads.open_by_email(session=session, emails=deal.emails)
        if email.casefold() in wanted
    ]
    candidates = leads.get_all(session=session, lead_ids=ids)
    return max(candidates, key=lambda lead: lead.received_at, default=None)
