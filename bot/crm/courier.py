"""The CRM transport of the outbox: write-back rows (`bot.writeback`) carried to the CRM.

The worker (`bot.delivery`) takes the rows, holds and retries; this module turns a row into
a `writeback.Change` and hands it to its CRM's `writeback.Transport`. Every CRM call goes
through the worker's gate under the CRM's name as the method, so a 429 holds that CRM (and
only it) until its Retry-After, a CRM that does not answer waits like a Slack method that
does not, and a permanent refusal becomes a dead letter.

Exactly once: the note is the only write that is not idempotent. Its stamp names the row,
and an attempt that may follow one that got through (the row was tried before) looks for
the note before writing it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.context import Context
from bot.crm.errors import CrmError, Permanent, RateLimited
from bot.crm.notes import stamp
from bot.crm.writeback import Change, Client, Transport
from bot.delivery.interface import Answer, Call, Sent, Undeliverable
from storage.models import Outbox

PERMANENT = "crm_permanent"
"""The code a permanent CRM error is answered with: another attempt cannot fix it."""
LOOKUP = "users.info"
"""The chat platform's method that finds a person's e-mail, the CRM's key for its users."""


class CrmTransport:
    """Sends write-back rows to the CRMs Baton has clients for."""

    permanent = frozenset({PERMANENT})

    def __init__(
        self,
        ctx: Context,
        clients: Iterable[Client],
        email_of: Callable[[str], str | None],
        *,
        timeout: float = 10.0,
    ) -> None:
        """`email_of` finds a chat user's e-mail (the CRM matches owners by it)."""
        tz = ZoneInfo(ctx.agreement.timezone)
        self.transports = {c.crm: Transport(c, ctx.agreement.crm, tz) for c in clients}
        self.email_of = email_of
        self.timeout = timeout

    def route(self, row: Outbox) -> tuple[str, str | None]:
        """The CRM's name is the method the worker holds after a 429."""
        return str(row.recipient), None

    def deliver(self, row: Outbox, call: Call) -> Sent:
        transport = self.transports.get(str(row.recipient))
        if transport is None:
            raise Undeliverable(f"no {row.recipient} token: write-back to it is not configured")
        facts = row.payload
        owner = facts.get("owner")
        owner_email = self._email(row, call, owner) if owner else None
        if owner and not owner_email:
            raise Undeliverable(f"no e-mail is known for {owner}, the lead's owner")
        change = Change(
            external_id=facts["external_id"],
            step=facts["step"],
            at=datetime.fromisoformat(facts["at"]),
            by=self._email(row, call, facts["by"]) or facts["by"],
            owner_email=owner_email,
            reason=facts.get("reason"),
            text=facts.get("text"),
        )
        # Tried before (a lease that ran out, a lost answer): the note may already be there.
        retry = row.attempts > 1 or row.error is not None
        mark = stamp(row.id, row.created_at)
        call(row, transport.name, lambda: transport.deliver(change, stamp=mark, retry=retry))
        return Sent(platform=transport.name)

    def _email(self, row: Outbox, call: Call, user: str) -> str | None:
        return call(row, LOOKUP, lambda: self.email_of(user))

    def answer(self, error: Exception) -> Answer | None:
        """A CRM's failure as the worker sorts it; None for an error from elsewhere."""
        if isinstance(error, RateLimited):
            return Answer(status=429, code="ratelimited", retry_after=error.retry_after)
        if isinstance(error, Permanent):
            return Answer(status=error.status or 400, code=PERMANENT, retry_after=None)
        if isinstance(error, CrmError):
            return Answer(status=error.status or 0, code="crm_unavailable", retry_after=None)
        return None
