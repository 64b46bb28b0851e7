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

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI, status
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from bot.service.endpoints.together import Together
from bot.service.runtime import Runtime
from bot.teams.activity import problems
from bot.teams.cards import CardRenderer
from bot.teams.connector import Connector, Conversation, card_message
from bot.teams.errors import TeamsError
from bot.teams.introductions import installs
from bot.teams.listeners import Handled, Inbound, claims, handle, is_claim
from bot.teams.members import Members
from bot.teams.places import StoredPeople
from bot.teams.token import AppToken
from bot.teams.verify import ActivityVerifier, Unauthorized

log = logging.getLogger(__name__)
REQUEST_THREADS = 3
"""Few threads take turns on one interpreter. A click's work is mostly Python between short
waits for the database: three keep the interpreter busy while one or two wait, and each
thread more only adds turns to take (with 50 clicks at once on PostgreSQL, eight used a
sixth more CPU per click than three; BENCHMARKS.md §16)."""
CLAIMS_AT_ONCE = 2
"""Batches of claims decided at once (`Together`): while one waits for the database the
other's Python runs, and the third thread is left to every other activity, so a dialog or a
message never waits behind claims."""
CLAIMS_TOGETHER = 8
"""The most claims a batch takes: fifty at once are several batches, which the two threads
share, instead of one long one that leaves the other thread idle (BENCHMARKS.md §16)."""
JSON = [(b"content-type", b"application/json")]
ENCODER = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, check_circular=False, separators=(",", ":")
)
"""FastAPI's JSON, made once; an answer comes from a template, so it holds no cycle to look for."""
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
    # A plain pool rather than anyio's `to_thread`: the same few threads, handed a click for
    # half the CPU on the event loop, which every other click's answer waits for. Its idle
    # threads end with the app (the pool is collected) or the process.
    threads = ThreadPoolExecutor(REQUEST_THREADS, thread_name_prefix="baton-teams-request")
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

    together = Together(
        lambda activities: claims(listeners(), activities),
        threads,
        at_once=CLAIMS_AT_ONCE,
        most=CLAIMS_TOGETHER,
    )

    async def reply(activity: dict[str, Any], card: dict[str, Any]) -> None:
        """Post the answer to a command where it was asked (a channel's: in its thread)."""
        where = Conversation(activity["conversation"]["id"], activity["serviceUrl"])
        try:
            await clients().connector.post(where, card_message(card, card.get("fallbackText", "")))
        except TeamsError as error:
            log.warning("could not answer a message: %s", error)

    async def messages(scope: Scope, receive: Receive, send: Send) -> None:
        body = await _body(receive)
        if body is None:
            return  # the client went away before it had sent the activity
        try:
            activity = json.loads(body)
        except ValueError:
            activity = None
        if not isinstance(activity, dict):
            activity = {}
        try:
            await verifier.verify(
                _header(scope, b"authorization"),
                service_url=_text(activity.get("serviceUrl")),
                channel_id=_text(activity.get("channelId")),
            )
        except Unauthorized as refused:
            log.info("refused an activity: %s", refused)
            await _answer(send, status.HTTP_401_UNAUTHORIZED, {"error": "unauthorized"})
            return
        if wrong := problems(activity):
            await _answer(send, status.HTTP_400_BAD_REQUEST, {"detail": wrong})
            return
        told = await installation(activity)
        with runtime.ctx.answers.answering():  # the courier and the click workers wait
            if is_claim(activity):
                handled = await together(activity)
            else:
                handled = await asyncio.get_running_loop().run_in_executor(
                    threads, copy_context().run, answer, activity, told
                )
        if handled.reply is not None:
            await reply(activity, handled.reply)
        await _answer(send, status.HTTP_200_OK, handled.answer)

    # A plain ASGI route, matched first: every click's answer waits for the event loop, so
    # neither FastAPI's parameters, Starlette's request and response objects nor a walk past
    # the other routes add their cost to it. Errors still reach the app's handlers.
    route = Route("/api/messages", _Asgi(messages), methods=["POST"], include_in_schema=False)
    api.router.routes.insert(0, route)


class _Asgi:
    """An ASGI app for a route: Starlette calls an instance as one, where it would wrap a
    function as `func(request) -> response`."""

    def __init__(self, serve: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.serve = serve

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.serve(scope, receive, send)


async def _body(receive: Receive) -> bytes | None:
    """The whole request body (`BodyLimit` has kept it to 1 MB); None if the client left."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


async def _answer(send: Send, code: int, content: Any) -> None:
    """`content` as JSON (as FastAPI's JSONResponse writes it), or an empty body for None."""
    if content is None:
        body, headers = b"", []
    else:
        body, headers = ENCODER.encode(content).encode(), JSON
    length = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": code, "headers": length + headers})
    await send({"type": "http.response.body", "body": body})


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class _Clients:
    """The Teams clients the route calls itself (one token, one HTTP client, one loop)."""

    members: Members
    connector: Connector
