"""The outbox's one transport, made of the chat platform's and the CRMs': each row to its own.

The worker (`bot.delivery.worker.Courier`) drives a single transport; write-back rows
(`bot.writeback.CRM`) go to the CRM transport, every other row to the chat platform's
(Slack's or Teams', as the agreement's `platform` says), unchanged. Both share the platform's
limits object, whose holds are kept per method: a CRM is held under its own name, so a 429
from HubSpot never holds a post to Slack or Teams, nor the reverse.
"""

from bot.crm.courier import CrmTransport
from bot.delivery.interface import Answer, Call, Sent, Transport
from bot.writeback import CRM
from storage.models import Outbox


class Transports:
    """The chat platform's transport, with the CRM's beside it for write-back rows."""

    def __init__(self, chat: Transport, crm: CrmTransport) -> None:
        self.chat = chat
        self.crm = crm
        self.platform = chat.platform
        self.paced = chat.paced
        self.permanent = chat.permanent | crm.permanent
        self.timeout = max(chat.timeout, crm.timeout)
        self.limits = chat.limits

    def route(
        self, row: Outbox, placed: dict[str, tuple[str | None, str | None]]
    ) -> tuple[str, str | None] | None:
        if row.kind == CRM:
            return self.crm.route(row)
        return self.chat.route(row, placed)

    def deliver(self, row: Outbox, call: Call) -> Sent:
        if row.kind == CRM:
            return self.crm.deliver(row, call)
        return self.chat.deliver(row, call)

    def answer(self, error: Exception) -> Answer | None:
        return self.crm.answer(error) or self.chat.answer(error)
