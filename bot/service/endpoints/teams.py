"""`POST /api/messages`: the Bot Framework messaging endpoint, served with `platform: teams`.

Every activity's bearer token is checked first (`bot.teams.verify`): a forged, unsigned,
expired or foreign one is answered 401 before anything is read from the activity or stored.
Then the listeners (`bot.teams.listeners`) do the work in a thread, as Slack's do: the
domain's services and the database are synchronous. An invoke's answer is the HTTP body
Teams shows the person who clicked; every other activity is answered 200.
"""

import json
import logging
from typing import Any

from anyio import CapacityLimiter, to_thread
from fastapi import FastAPI, Request, Response, status
from fastapi.responses import JSONResponse

from bot.service.runtime import Runtime
from bot.teams.cards import CardRenderer
from bot.teams.directory import PLATFORM
from bot.teams.listeners import Inbound, handle
from bot.teams.verify import ActivityVerifier, Unauthorized
from storage import conversations

log = logging.getLogger(__name__)
REQUEST_THREADS = 8
"""As for Slack's requests (`bot.slack.events`): few threads take turns on one interpreter."""


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
    inbound: list[Inbound] = []  # made at the first activity: the database is migrated by then

    def listeners() -> Inbound:
        if not inbound:
            with runtime.ctx.sessions() as session:
                names = conversations.names(session, PLATFORM)
            cards = CardRenderer(runtime.agreement, names)
            inbound.append(Inbound(runtime.ctx, cards, runtime.resolve_people))
        return inbound[0]

    def answer(activity: dict[str, Any]) -> dict[str, Any] | None:
        return handle(listeners(), activity)

    @api.post("/api/messages", include_in_schema=False)
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
                service_url=activity.get("serviceUrl"),
                channel_id=activity.get("channelId"),
            )
        except Unauthorized as refused:
            log.info("refused an activity: %s", refused)
            return JSONResponse({"error": "unauthorized"}, status.HTTP_401_UNAUTHORIZED)
        with runtime.ctx.answers.answering():  # the courier and the click workers wait
            found = await to_thread.run_sync(answer, activity, limiter=threads)
        if found is None:
            return Response(status_code=status.HTTP_200_OK)
        return JSONResponse(found)
