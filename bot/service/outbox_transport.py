"""The outbox's one transport, made of the platform's and the CRMs': each row to its own.

The worker (`bot.delivery.worker.Courier`) drives a single transport; write-back rows
(`bot.writeback.CRM`) go to the CRM transport, every other row to the chat platform's,
unchanged. Both share the platform's limits object, whose holds are kept per method: a CRM
is held under its own name, so a 429 from HubSpot never holds a Slack post, nor the reverse.
"""

from bot.crm.courier import CrmTransport
from bot.delivery.interface import Answer, Call, Sent
from bot.slack.transport import SlackTransport
from bot.writeback import CRM
from storage.models import Outbox


class Transports:
    """Slack's transport, with the CRM's beside it for write-back rows."""

    def __init__(self, slack: SlackTransport, crm: CrmTransport) -> None:
        self.slack = slack
        self.crm = crm
        self.platform = slack.platform
        self.paced = slack.paced
        self.permanent = slack.permanent | crm.permanent
        self.timeout = max(slack.timeout, crm.timeout)
        self.limits = slack.limits

    def route(
        self, row: Outbox, placed: dict[str, tuple[str | None, str | None]]
    ) -> tuple[str, str | None] | None:
        if row.kind == CRM:
            return self.crm.route(row)
        return self.slack.route(row, placed)

    def deliver(self, row: Outbox, call: Call) -> Sent:
        if row.kind == CRM:
            return self.crm.deliver(row, call)
        return self.slack.deliver(row, call)

    def answer(self, error: Exception) -> Answer | None:
        return self.crm.answer(error) or self.slack.answer(error)
