"""Write-back: one change of a lead in Baton, carried to the CRM object it came from.

An outbox row (`bot.writeback`) holds the change; the outbox's CRM transport
(`bot.crm.courier`) makes a `Change` of it, with the e-mails of the people it names, and
hands it to the CRM's `Transport.deliver`, which makes every call the change needs:

| step | HubSpot (contact) | Pipedrive (person or lead) |
| --- | --- | --- |
| claimed, assigned | owner (by e-mail), `hs_lead_status` | owner (by e-mail), lead label |
| contacted | `hs_lead_status`, a note | lead label, a note |
| accepted, rejected, nurture | `hs_lead_status`, a note | lead label, a note |

The statuses come from the agreement's `crm.<name>.status`; a Pipedrive person has no lead
label, so only its owner and notes are written. Setting an owner or a status twice changes
nothing, so only the note needs care: it carries the row's stamp, and any attempt that may
follow one whose answer was lost (`retry=True`) looks for the note before writing it. A
`Transient`, `RateLimited` or `Permanent` error tells the worker what to do next.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict

from bot.crm.errors import Permanent
from bot.crm.mapping import ObjectRef
from bot.crm.notes import note
from bot.crm_section import STEPS, CrmSection, Step

OWNING = ("claimed", "assigned")


class Client(Protocol):
    """What a CRM's client offers write-back (`bot.crm.hubspot.HubSpot`,
    `bot.crm.pipedrive.Pipedrive`)."""

    crm: str

    def set_owner(self, ref: ObjectRef, email: str) -> None: ...

    def set_status(self, ref: ObjectRef, status: str, others: Iterable[str] = ()) -> None: ...

    def find_note(self, ref: ObjectRef, stamp: str) -> object | None: ...

    def add_note(self, ref: ObjectRef, body: str, at: datetime) -> object: ...


class Change(BaseModel):
    """What happened to a lead that its CRM object should show."""

    model_config = ConfigDict(frozen=True)

    external_id: str
    step: Step
    at: AwareDatetime
    by: str
    """Who did it, as the CRM's users know them (a name, or an e-mail)."""
    owner_email: str | None = None
    """For claimed and assigned: the e-mail of the seller who owns the lead now."""
    reason: str | None = None
    text: str | None = None


class Transport:
    """Delivers `Change`s to one CRM through its client."""

    def __init__(self, client: Client, crm: CrmSection, tz: ZoneInfo) -> None:
        self.client = client
        self.crm = crm
        self.tz = tz
        self.name = client.crm

    def deliver(self, change: Change, *, stamp: str, retry: bool) -> None:
        """Make the CRM show `change`; `retry` when an earlier attempt may have got through.

        Raises `Permanent` for a change that names no object of this CRM or lacks what its
        step needs (a dead letter, not a retry)."""
        ref = ObjectRef.parse(change.external_id)
        if ref is None or ref.crm != self.name:
            raise Permanent(self.name, f"{change.external_id!r} is not a {self.name} object")
        if change.step in OWNING:
            if not change.owner_email:
                raise Permanent(self.name, f"a {change.step} change without the owner's e-mail")
            self.client.set_owner(ref, change.owner_email)
        status = self.crm.status_of(self.name, change.step)
        if status:
            others = {self.crm.status_of(self.name, step) for step in STEPS} - {status, None}
            self.client.set_status(ref, status, sorted(s for s in others if s))
        if change.step not in OWNING:
            self._note(ref, change, stamp, retry)

    def _note(self, ref: ObjectRef, change: Change, stamp: str, retry: bool) -> None:
        at: datetime = change.at.astimezone(self.tz)
        body = note(
            step="contacted" if change.step == "contacted" else "feedback",
            by=change.by,
            at=at,
            stamp=stamp,
            outcome=change.step,
            reason=change.reason,
            text=change.text,
        )
        if retry and self.client.find_note(ref, stamp) is not None:
            return
        self.client.add_note(ref, body, change.at)
