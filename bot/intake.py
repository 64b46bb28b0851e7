"""Hand-over: Marketing gives Baton a lead; Baton judges it and, if qualified, starts the clocks."""

from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from bot import messages, sla
from bot.context import Context
from bot.pipeline import Stage
from bot.qualification import qualify
from bot.schemas import LeadIn
from storage import leads
from storage.db import transaction
from storage.models import Lead


@dataclass(frozen=True)
class HandOver:
    lead: Lead
    created: bool


def hand_over(ctx: Context, lead_in: LeadIn, *, by: str) -> HandOver:
    """Store the lead, its verdict, its clocks and its card in one transaction.

    The same `external_id` twice returns the stored lead untouched, even when both arrive at
    once: the unique index decides, and the loser reads the winner's lead. Nothing is looked
    up first: a repeat is rare, and a look before every hand-over would cost each of them.
    """
    verdict = qualify(lead_in, ctx.agreement.qualified_lead)
    now = ctx.clock()
    try:
        with transaction(ctx.sessions) as session:
            lead = Lead(
                **lead_in.columns(),
                qualified=verdict.qualified,
                reasons=verdict.reasons,
                stage=Stage.HANDED_OVER if verdict.qualified else Stage.UNQUALIFIED,
                handed_over_by=by,
                received_at=now,
            )
            session.add(lead)
            session.flush()
            leads.record(
                session=session,
                lead_id=lead.id,
                at=now,
                actor=by,
                kind="handed_over",
                data={"qualified": verdict.qualified, "reasons": verdict.reasons},
            )
            if verdict.qualified:
                for kind in (sla.CLAIM, sla.CONTACT):
                    sla.open_clock(
                        session=session,
                        agreement=ctx.agreement,
                        lead_id=lead.id,
                        kind=kind,
                        start=now,
                    )
                messages.refresh_card(session=session, lead_id=lead.id, at=now)
            else:
                messages.post(
                    session=session,
                    channel=ctx.agreement.channels.marketing,
                    template="returned_to_nurture",
                    lead_id=lead.id,
                    at=now,
                    reasons=verdict.reasons,
                )
    except IntegrityError:
        if not lead_in.external_id:
            raise
        with ctx.sessions() as session:
            known = leads.by_external_id(session=session, external_id=lead_in.external_id)
        if known is None:
            raise
        return HandOver(known, created=False)
    ctx.wake()
    return HandOver(lead, created=True)
