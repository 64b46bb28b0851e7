"""`POST /api/messages`: the Bot Framework messaging endpoint, served with `platform: teams`.

Every activity's bearer token is checked first (`bot.teams.verify`): a forged, unsigned,
expired or foreign one is answered 401 before anything is read from the activity or stored.
At an installation, the conversation's roster and its team's channels are read next
(`bot.teams.members`): only they give people's email addresses and every channel of the
team. Then the listeners (`bot.teams.listeners`) do the work in a thread, as Slack's do: the
domain's services and the database are synchronous. An invoke's answer is the HTTP body
Teams shows the person who clicked; a command's is posted in its conversation; every
activity but an invoke is answered 200. Every address called is the `serviceUrl` the
verified token names.
"""

import json
import logging
from dataclasses import dataclass
from typing import Any

import httpx
from anyio import CapacityLimiter, to_thread
from fastapi import FastAPI, Request, Response, status
from fastapi.responses import JSONResponse

from bot.service.runtime import Runtime
from bot.teams.activity import problems
from bot.teams.cards import CardRenderer
from bot.teams.connector import Connector, Conversation, card_message
from bot.teams.errors import TeamsError
from bot.teams.introductions import installs
from bot.teams.listeners import Handled, Inbound, handle
from bot.teams.members import Members
from bot.teams.places import StoredPeople
from bot.teams.token import AppToken
from bot.teams.verify import ActivityVerifier, Unauthorized

log = logging.getLogger(__name__)
REQUEST_THREADS = 8
"""As for Slack's requests (`bot.slack.events`): few threads take turns on one interpreter."""
TIMEOUT = 10.0
"""Seconds for the roster read at an installation; Teams waits 15 s for the answer."""


def mount(api: FastAPI, runtime: Runtime) -> None:
    settings = runtime.settings
    if not settings.teams_app_id:
        raise ValueError("TEAMS_APP_ID is needed to check who sends an activity")
    verifier = ActivityVerifier(
        app_id=settings.teams_app_id,
        metadata_url=settings.teams_openid_url,
        clock=runtime.ctx.clock,
    )
    threads = CapacityLimiter(REQUEST_THREADS)
    made: list[_Clients] = []  # made in the app's event loop, when first needed

    def clients() -> _Clients:
        if not made:
            http = httpx.AsyncClient(timeout=TIMEOUT)
            token = AppToken(settings, http=http)
            made.append(
                _Clients(
                    Members(token=token, http=http), Connector(settings, token=token, http=http)
                )
            )
        return made[0]

    async def installation(activity: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
        """The roster of an installation's conversation and its team's channels; none (and a
        warning) when the connector cannot give them: what the activity itself says is kept
        all the same."""
        conversation = (activity.get("conversation") or {}).get("id")
        if not installs(activity) or not conversation:
            return [], []
        roster = clients().members
        service_url = str(activity.get("serviceUrl"))
        team = ((activity.get("channelData") or {}).get("team") or {}).get("id")
        members: list[dict[str, Any]] = []
        channels: list[str] = []
        try:
            members = await roster.of(conversation, service_url)
        except TeamsError as error:
            log.warning("could not read the members of what Baton was added to: %s", error)
        try:
            channels = await roster.channels(team, service_url) if team else []
        except TeamsError as error:
            log.warning("could not read the channels of the team Baton was added to: %s", error)
        return members, channels

    inbound: list[Inbound] = []  # made at the first activity: the database is migrated by then

    def listeners() -> Inbound:
        if not inbound:
            people = StoredPeople(runtime.ctx.sessions)
            cards = CardRenderer(runtime.agreement, {})
            inbound.append(Inbound(runtime.ctx, cards, runtime.resolve_people, people))
        return inbound[0]

    def answer(activity: dict[str, Any], told: tuple[list[dict[str, Any]], list[str]]) -> Handled:
        return handle(listeners(), activity, *told)

    async def reply(activity: dict[str, Any], card: dict[str, Any]) -> None:
        """Post the answer to a command where it was asked (a channel's: in its thread)."""
        where = Conversation(activity["conversation"]["id"], activity["serviceUrl"])
        try:
            await clients().connector.post(where, card_message(card, card.get("fallbackText", "")))
        except TeamsError as error:
            log.warning("could not answer a message: %s", error)

    async def messages(request: Request) -> Response:
        body = await request.body()
        try:
            activity = json.loads(body)
        except ValueError:
            activity = None
        if not isinstance(activity, dict):
            activity = {}
        try:
            await verifier.verify(
                request.headers.get("authorization"),
                service_url=_text(activity.get("serviceUrl")),
                channel_id=_text(activity.get("channelId")),
            )
        except Unauthorized as refused:
            log.info("refused an activity: %s", refused)
            return JSONResponse({"error": "unauthorized"}, status.HTTP_401_UNAUTHORIZED)
        if wrong := problems(activity):
            return JSONResponse({"detail": wrong}, status.HTTP_400_BAD_REQUEST)
        told = await installation(activity)
        with runtime.ctx.answers.answering():  # the courier and the click workers wait
            handled = await to_thread.run_sync(answer, activity, told, limiter=threads)
        if handled.reply is not None:
            await reply(activity, handled.reply)
        if handled.answer is None:
            return Response(status_code=status.HTTP_200_OK)
        return JSONResponse(handled.answer)

    # A plain route: the activity is read from the body as it is, so FastAPI's parameters
    # and dependencies would only add their cost to the answer of every click.
    api.add_route("/api/messages", messages, methods=["POST"], include_in_schema=False)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class _Clients:
    """The Teams clients the route calls itself (one token, one HTTP client, one loop)."""

    members: Members
    connector: Connector
