"""Queueing write-back: a lead's change, bound for the CRM object it came from.

Queued in the outbox in the transaction of the change itself (`bot.ownership`,
`bot.feedback`), so the CRM hears of a claim exactly when Baton commits it. The row holds
who did it by their chat user id; the courier finds their e-mail when it delivers
(`bot.crm.courier`), since the CRM matches its users by e-mail. Nothing is queued for a lead
from elsewhere, nor for a CRM Baton has no token for; a forgotten lead is refused before
anything is queued (`ownership.find`), and `baton forget` cancels its rows still queued.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from bot.context import Context
from bot.crm_section import Step
from storage import outbox
from storage.models import Lead

CRM = "crm"
"""The outbox kind of a write-back row; its `recipient` is the CRM's name."""

OBJECTS = {"hubspot": ("contact",), "pipedrive": ("person", "lead")}
"""The CRM objects a lead's `external_id` may name (`<crm>-<kind>-<id>`, `bot.crm.mapping`);
the courier checks the id itself before it goes into an API path."""


def crm_of(external_id: str | None) -> str | None:
    """The CRM whose object `external_id` names, or None for a lead from elsewhere."""
    crm, _, rest = (external_id or "").partition("-")
    kind, _, object_id = rest.partition("-")
    return crm if object_id and kind in OBJECTS.get(crm, ()) else None


def queue(
    session: Session,
    ctx: Context,
    *,
    lead: Lead,
    step: Step,
    at: datetime,
    by: str,
    owner: str | None = None,
    reason: str | None = None,
    text: str | None = None,
) -> None:
    """Queue `step` for `lead`'s CRM object, if it has one Baton may write to."""
    crm = crm_of(lead.external_id)
    if crm is None or crm not in ctx.crms or lead.forgotten_at is not None:
        return
    payload = {
        "external_id": lead.external_id,
        "step": step,
        "at": at.isoformat(),
        "by": by,
        "owner": owner,
        "reason": reason,
        "text": text,
    }
    row = outbox.row(kind=CRM, lead_id=lead.id, recipient=crm, at=at, payload=payload)
    outbox.enqueue_all(session=session, rows=[row])
