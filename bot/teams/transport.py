"""The Teams transport of the outbox: where each row goes in Teams, and how it gets there.

`bot.delivery` takes rows, keeps the pace, holds and retries; this module renders a row's
message as an Adaptive Card (`bot.teams.cards`) and hands it to the Bot Connector:

- a lead's card is posted to the sales channel, then updated in place (PUT) as the lead
  changes, so everyone sees the owner and the next deadline;
- reminders, a release and feedback are replies in the card's thread;
- escalations, assignments and digests for a person are 1:1 proactive messages, in the chat
  the person's installation of the app gives (opened again from their Teams id, tenant and
  service URL when it is not known yet); a digest for a channel is a post there;
- the marketing mirror and other posts go to the channel they name.

A person Teams has no reference for (the app never installed for them) is a dead letter at
once, with their name and what to do in the reason: they cannot be reached until an admin
or they install the app, which no waiting in the queue brings about, and an escalation held
back in silence would be worse than one an operator sees in `baton outbox` and can send with
`baton outbox retry` once they are reachable. `baton check` lists them before that happens.

Exactly once: every message carries a stamp naming its row (`bot.teams.lookup.stamp`), and a
row that may already be in Teams (taken before, or its last attempt failed) is first looked
for through Microsoft Graph, as the Slack transport does with `conversations.history`. Found,
it is recorded with Graph's id (the connector's activity id) and not posted. An update in
place needs no lookup: it can be repeated.

Pace (`RATE`, `BURST`): Microsoft documents, per bot and conversation, 7 operations in 3
seconds, 60 in 30 and 1,800 in an hour, sends and updates alike ("Rate limiting for bots").
Every send, reply and update to one conversation shares one paced method (`SEND`), at half a
message a second after a burst of five: at most 6.5 in any 3 seconds, 20 in 30, and the
hourly 1,800. A 429 holds it until `Retry-After`.
"""

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

from microsoft_teams.api import MessageActivityInput
from sqlmodel import Session

from bot import cards, digests, messages, metrics
from bot.context import Context
from bot.delivery.interface import Answer, Call, Sent, Undeliverable
from bot.delivery.limits import Limits
from bot.teams import digest_layout
from bot.teams.cards import CardRenderer
from bot.teams.connector import Connector, Conversation, card_message
from bot.teams.errors import RateLimited, Refused, TeamsError, Unavailable
from bot.teams.lookup import Lookup, mark, stamp
from bot.teams.loop import TeamsClients
from bot.teams.places import ChannelPlace, PersonPlace, Places
from bot.teams.placing import Placing
from storage import leads
from storage.db import reading
from storage.models import Lead, Outbox

SEND = "teams.send"
"""Posts, replies and updates: paced per conversation."""
OPEN = "teams.open"
LOOKUP = "graph.lookup"
RATE = 0.5
BURST = 5

Find = Callable[[Lookup], Awaitable[str | None]]
"""A Graph lookup of what an earlier attempt of a row posted."""


class TeamsTransport(Placing):
    """Renders and sends outbox rows to Teams through clients that never sleep on a retry."""

    platform = "teams"
    paced = SEND
    permanent: frozenset[str] = frozenset()
    """A refusal no retry mends is raised as `Undeliverable` with Microsoft's reason
    (`bot.teams.loop`); any code the worker sees is worth another try."""

    def __init__(
        self,
        ctx: Context,
        clients: TeamsClients,
        renderer: CardRenderer,
        places: Places,
        *,
        rate: float = RATE,
        burst: int = BURST,
    ) -> None:
        self.ctx = ctx
        self.clients = clients
        self.renderer = renderer
        self.places = places
        self.timeout = clients.timeout
        self.limits = Limits(rate=rate, burst=burst, paced=SEND)
        self._opened: dict[str, Conversation] = {}

    def answer(self, error: Exception) -> Answer | None:
        """How Teams answered a failed call, as the worker reads answers; None for a bug."""
        if isinstance(error, RateLimited):
            return Answer(status=429, code=error.code, retry_after=error.retry_after)
        if isinstance(error, Unavailable):
            return Answer(status=error.status, code="connection_error", retry_after=None)
        if isinstance(error, Refused):  # worth another try (412): the worker backs off
            return Answer(status=error.status or 400, code=error.code, retry_after=None)
        if isinstance(error, TeamsError):
            return Answer(status=error.status, code=error.code or "error", retry_after=None)
        return None

    def route(
        self, row: Outbox, placed: dict[str, tuple[str | None, str | None]]
    ) -> tuple[str, str | None] | None:
        """`SEND` and the conversation a row goes to (its pace's key), or None: nothing to do."""
        card = placed.get(row.lead_id) if row.lead_id else None
        if row.kind == messages.CARD:
            if card is None:
                return None
            return SEND, card[0] or self.ctx.agreement.channels.sales
        if row.kind == messages.REPLY:
            return SEND, card[0] if card else None
        return SEND, row.recipient

    def deliver(self, row: Outbox, call: Call) -> Sent:
        """Send `row` (every Teams call through `call`); what Teams took, to record."""
        if row.kind in (messages.DIGEST, messages.DIGEST_UPDATE):
            return self._digest(row, call)
        lead, clocks = cards.of_row(self.ctx, row.lead_id)
        with reading(self.ctx.sessions) as session:
            latest = leads.latest_feedback(session=session, lead_id=lead.id) if lead else None
        if row.kind == messages.CARD:
            if lead is None:
                return Sent()
            if lead.card_message_id and lead.card_conversation:
                card = self.renderer.card(lead, clocks, latest)
                where = self._channel(lead.card_conversation)
                sent = self._update(
                    row, where.id, where.service_url, lead.card_message_id, card, call
                )
                return Sent(message_id=sent, conversation=where.id)
            return self._first_card(row, lead, clocks, latest, call)
        if row.kind == messages.ERASE:
            removed = self.renderer.message("removed")
            conversation = row.recipient or ""
            service_url = self._service_url(conversation)
            sent = self._update(
                row, conversation, service_url, row.payload["message_id"], removed, call
            )
            return Sent(message_id=sent, conversation=conversation)
        if row.kind == messages.REPLY and (lead is None or not lead.card_message_id):
            raise Undeliverable("the lead's card was never posted")
        facts: dict[str, Any] = dict(row.payload.get("facts", {}))
        facts.update(lead=lead, card_link=self._card_link(lead))
        card = self.renderer.message(row.payload["template"], **facts)
        if row.kind == messages.REPLY:
            assert lead is not None and lead.card_conversation and lead.card_message_id
            channel = self._channel(lead.card_conversation)
            sent, where = self._in_thread(row, channel, lead.card_message_id, card, call)
        else:
            assert row.recipient is not None  # a 1:1 or a post always names where it goes
            sent, where = self._to(row, row.recipient, card, call)
        planned = row.payload.get("facts", {}).get("planned")
        lags = [datetime.fromisoformat(planned)] if planned else []
        return Sent(message_id=sent, conversation=where, planned=lags)

    # the lead's card -----------------------------------------------------------------------

    def _first_card(self, row: Outbox, lead: Lead, clocks: list, latest: Any, call: Call) -> Sent:
        """Post the card; its clocks start once Teams has it, so it says by when to claim."""
        now = self.ctx.clock()
        card = self.renderer.card(
            lead, cards.preview(self.ctx.agreement, lead, clocks, now), latest
        )
        channel = self._channel(self.ctx.agreement.channels.sales)
        sent, found = self._post_in_channel(row, channel, card, call)
        metrics.LEADS_POSTED.inc()
        at = self.ctx.clock()
        if found:  # in the channel since Teams took it, as far as its id tells
            at = min(at, max(row.created_at, _taken_at(sent, at)))
        lead_id, agreement = lead.id, self.ctx.agreement

        def record(session: Session) -> None:
            """The card is where it is, and the clocks start: Sales can see the lead."""
            leads.set_card(
                session=session,
                lead_id=lead_id,
                platform=self.platform,
                conversation=channel.id,
                message_id=sent,
            )
            cards.shown(session=session, agreement=agreement, lead_id=lead_id, at=at)

        metrics.CARD_DELAY.observe(max(0.0, (at - lead.received_at).total_seconds()))
        return Sent(message_id=sent, conversation=channel.id, record=record, started_clocks=True)

    # digests ------------------------------------------------------------------------------

    def _digest(self, row: Outbox, call: Call) -> Sent:
        """Post a digest, or bring the posted one up to date, as it stands now (see
        `bot.slack.transport`: each row shows every change made before it was rendered)."""
        shown = digests.current(
            self.ctx, row.payload["digest"], link=self._card_link, pack=digest_layout.pack
        )
        if shown is None:
            return Sent()
        card = self.renderer.message(shown.template, **shown.facts)
        where: tuple[str, str, str] | None = None
        version = shown.version
        if row.kind == messages.DIGEST:
            sent, conversation, found = self._to_found(row, shown.recipient, card, call)
            where = (self.platform, conversation, sent)
            if found:  # as an earlier attempt rendered it: an update follows with it as it is
                version = 0
        elif shown.message_id is None or shown.conversation is None:
            raise Undeliverable("a digest update without its post")
        else:
            service_url = self._service_url(shown.conversation, shown.recipient)
            self._update(row, shown.conversation, service_url, shown.message_id, card, call)
        return digests.sent(shown, version=version, where=where, at=self.ctx.clock())

    # where a message goes -----------------------------------------------------------------

    def _to(self, row: Outbox, recipient: str, card: dict[str, Any], call: Call) -> tuple[str, str]:
        sent, conversation, _ = self._to_found(row, recipient, card, call)
        return sent, conversation

    def _to_found(
        self, row: Outbox, recipient: str, card: dict[str, Any], call: Call
    ) -> tuple[str, str, bool]:
        """Post to a channel, or 1:1 to a person: the activity id, the conversation, and
        whether it was found posted by an earlier attempt."""
        if self._is_channel(recipient):
            channel = self._channel(recipient)
            sent, found = self._post_in_channel(row, channel, card, call)
            return sent, channel.id, found
        return self._personal(row, recipient, card, call)

    def _post_in_channel(
        self,
        row: Outbox,
        channel: ChannelPlace,
        card: dict[str, Any],
        call: Call,
        root: str | None = None,
    ) -> tuple[str, bool]:
        """A post in `channel`, or a reply in the thread of its post `root`: its id, and
        whether it was found posted by an earlier attempt."""
        row_mark = mark(row.id or 0, row.created_at)
        where = Conversation(channel.id, channel.service_url)
        find: Find | None = None
        if _maybe_sent(row):
            team = self._team_of(channel)
            find = partial(
                Lookup.in_channel if root is None else partial(Lookup.in_thread, root_id=root),
                team_id=team,
                channel_id=channel.id,
                row_mark=row_mark,
                since=row.created_at,
            )
        return self._once(
            row,
            call,
            find,
            lambda connector, message: (
                connector.post(where, message)
                if root is None
                else connector.reply(where, root, message)
            ),
            card,
            row_mark,
            channel.id,
        )

    def _in_thread(
        self, row: Outbox, channel: ChannelPlace, root: str, card: dict[str, Any], call: Call
    ) -> tuple[str, str]:
        """A reply in the thread of the post `root`: its id, and the thread's conversation
        (`{channel};messageid={root}`), where an erasure later updates it."""
        sent, _ = self._post_in_channel(row, channel, card, call, root)
        return sent, Conversation(channel.id, channel.service_url).thread(root).id

    def _personal(
        self, row: Outbox, person_id: str, card: dict[str, Any], call: Call
    ) -> tuple[str, str, bool]:
        """A 1:1 to `person_id`, in the chat their installation gave or one opened now."""
        place = self._person(person_id)
        row_mark = mark(row.id or 0, row.created_at)
        where = self._open(row, person_id, place, call)
        find: Find | None = None
        if _maybe_sent(row):
            if not place.chat_id:
                raise Undeliverable(
                    f"cannot tell whether an earlier attempt reached {_who(place, person_id)} in "
                    "Teams: Graph's id of their chat with Baton is not known; look there before "
                    "`baton outbox retry`"
                )
            chat_id = place.chat_id

            find = partial(Lookup.in_chat, chat_id=chat_id, row_mark=row_mark, since=row.created_at)

        sent, found = self._once(
            row,
            call,
            find,
            lambda connector, message: connector.post(where, message),
            card,
            row_mark,
            person_id,
        )
        return sent, where.id, found

    def _once(
        self,
        row: Outbox,
        call: Call,
        find: Find | None,
        send: Callable[[Connector, MessageActivityInput], Awaitable[str]],
        card: dict[str, Any],
        row_mark: str,
        key: str,
    ) -> tuple[str, bool]:
        """The message an earlier attempt of `row` posted, if `find` (given when one may
        have) finds it, else `card` sent now with `row_mark`, paced by `key`: its id, and
        whether it was found."""
        if find is not None:
            lookup = self.clients.lookup
            found = call(row, LOOKUP, lambda: self.clients.run(lambda: find(lookup)))
            if found is not None:
                metrics.OUTBOX_FOUND.inc()
                return found, True
        message = card_message(stamp(card, row_mark), _summary(card))
        connector = self.clients.connector
        sent = call(row, SEND, lambda: self.clients.run(lambda: send(connector, message)), key)
        return sent, False

    def _open(self, row: Outbox, person_id: str, place: PersonPlace, call: Call) -> Conversation:
        service_url = place.person.service_url or self.clients.endpoints.teams_service_url
        if place.conversation:
            return Conversation(place.conversation, service_url)
        opened = self._opened.get(person_id)
        if opened is None:
            connector = self.clients.connector
            opened = call(
                row, OPEN, lambda: self.clients.run(lambda: connector.open_personal(place.person))
            )
            if len(self._opened) > 10_000:
                self._opened.clear()
            self._opened[person_id] = opened
        return opened

    def _update(
        self,
        row: Outbox,
        conversation: str,
        service_url: str,
        activity_id: str,
        card: dict[str, Any],
        call: Call,
    ) -> str:
        message = card_message(card, _summary(card))
        where = Conversation(conversation, service_url)
        connector = self.clients.connector
        return call(
            row,
            SEND,
            lambda: self.clients.run(lambda: connector.update(where, activity_id, message)),
            conversation,
        )


def _maybe_sent(row: Outbox) -> bool:
    """A retry, or a row whose last attempt failed, may already be in Teams: look first."""
    return row.attempts > 1 or row.error is not None


def _summary(card: dict[str, Any]) -> str:
    return str(card.get("fallbackText") or "Baton")


def _who(place: PersonPlace, person_id: str) -> str:
    return f"{place.name} ({person_id})" if place.name else person_id


def _taken_at(activity_id: str, fallback: datetime) -> datetime:
    """When Teams took a channel message: its id is the milliseconds since the epoch."""
    try:
        return datetime.fromtimestamp(int(activity_id) / 1000, UTC)
    except (TypeError, ValueError, OverflowError):
        return fallback
