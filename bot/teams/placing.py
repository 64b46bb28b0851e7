"""Where a Teams conversation is, for the transport: a channel's address and team, a
person's 1:1, the address of a conversation already written to, and the link to a lead's card.
Part of `bot.teams.transport.TeamsTransport`, apart for its size."""

from urllib.parse import quote

from bot.context import Context
from bot.delivery.interface import Undeliverable
from bot.teams.loop import TeamsClients
from bot.teams.places import ChannelPlace, PersonPlace, Places
from storage.models import Lead

LINK = "https://teams.microsoft.com/l/message/{channel}/{message}?groupId={team}&parentMessageId={message}"
"""Teams' deep link to a channel post."""


class Placing:
    """Part of `TeamsTransport`: the references the installation stored, as it needs them."""

    ctx: Context
    clients: TeamsClients
    places: Places

    def _is_channel(self, recipient: str) -> bool:
        channels = self.ctx.agreement.channels
        return recipient in (channels.sales, channels.marketing) or recipient.startswith("19:")

    def _channel(self, channel_id: str) -> ChannelPlace:
        """The channel as installed, or at the default service URL if Teams never said; one
        the app was removed from is nowhere to post."""
        return self._postable(self._known_channel(channel_id))

    def _postable(self, place: ChannelPlace) -> ChannelPlace:
        if place.removed_at is not None:
            raise Undeliverable(
                f"Baton was removed from the team of channel {place.id} at "
                f"{place.removed_at:%Y-%m-%d %H:%M} UTC: nothing is posted there; add the app "
                "to the team again, then `baton outbox retry`"
            )
        return place

    def _known_channel(self, channel_id: str) -> ChannelPlace:
        place = self.places.channel(channel_id)
        if place is not None:
            return place
        return ChannelPlace(channel_id, self.clients.endpoints.teams_service_url)

    def _person(self, person_id: str) -> PersonPlace:
        place = self.places.person(person_id)
        if place is None:
            raise Undeliverable(
                f"{person_id} cannot be reached in Teams: Baton is not installed for them (no "
                "conversation reference); install the app for them (or they open it once), "
                "then `baton outbox retry`"
            )
        return place

    def _team_of(self, channel: ChannelPlace) -> str:
        if not channel.team_id:
            raise Undeliverable(
                f"cannot tell whether an earlier attempt reached channel {channel.id}: its team "
                "is not known (install Baton in the team); look there before `baton outbox retry`"
            )
        return channel.team_id

    def _service_url(self, conversation: str, recipient: str | None = None) -> str:
        """Where a conversation already written to is served: its channel's (none once the
        app was removed from it), its person's, else the sales channel's (a tenant is served
        from one region)."""
        for key in (conversation, recipient):
            if key and self._is_channel(key):
                place = self.places.channel(key)
                if place is not None:
                    return self._postable(place).service_url
            elif key:
                person = self.places.person(key)
                if person is not None and person.person.service_url:
                    return person.person.service_url
        return self._known_channel(self.ctx.agreement.channels.sales).service_url

    def _card_link(self, lead: Lead | None) -> str | None:
        """A deep link to the lead's card in its channel, for the messages that point at it."""
        if lead is None or not lead.card_message_id or not lead.card_conversation:
            return None
        team = self._known_channel(lead.card_conversation).team_id  # the card is still there
        if not team:
            return None
        return LINK.format(
            channel=quote(lead.card_conversation, safe=""),
            message=quote(lead.card_message_id, safe=""),
            team=quote(team, safe=""),
        )
