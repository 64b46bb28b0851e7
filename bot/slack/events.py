"""`POST /slack/events`: events, interactivity and slash commands on one Request URL."""

import logging
from urllib.parse import parse_qs

from anyio import CapacityLimiter, to_thread
from fastapi import FastAPI, Request, Response, status
from fastapi.responses import JSONResponse
from slack_bolt import App
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from slack_sdk.signature import SignatureVerifier

from bot.slack.baton import Baton

log = logging.getLogger(__name__)
# Threads that run Bolt for Slack's requests (hand-overs have a writer thread of their own,
# `bot.intake.Intake`). Few on purpose: one interpreter lock runs one thread at a time, and
# forty threads (the thread pool's default) taking turns on fifty clicks at once kept the
# event loop from reading the requests still waiting. Eight leave room for requests that wait
# on Slack (a modal opened), on a slow query (`/baton stats`) or on SQLite's one writer.
REQUEST_THREADS = 8


def _signed(verifier: SignatureVerifier, body: bytes, headers: dict[str, str]) -> bool:
    """Slack's signature check, where a malformed header (a timestamp that is no number) is a
    forgery to refuse, not an error to crash on."""
    try:
        return verifier.is_valid_request(body, headers)
    except (ValueError, TypeError):
        return False


def _ssl_check(body: bytes) -> bool:
    """Slack's certificate probe (`ssl_check=1`), answered by Bolt with an empty 200 and
    nothing else. A body that also carries a `payload` is no probe to Bolt, which verifies it."""
    values = parse_qs(body.decode("utf-8", "replace")).get("ssl_check")
    return bool(values) and values[0] == "1"


def mount(api: FastAPI, runtime: Baton, bolt: App, signing_secret: str) -> None:
    """The route, verifying every request with `signing_secret` before anything reads it."""
    verifier = SignatureVerifier(signing_secret)
    dispatchers = CapacityLimiter(REQUEST_THREADS)

    @api.post("/slack/events", include_in_schema=False)
    async def slack_events(request: Request) -> Response:
        with runtime.ctx.answers.answering():  # the courier and the click workers wait
            return await _answer_slack(request)

    async def _answer_slack(request: Request) -> Response:
        body = await request.body()
        # Verified before anything parses the body (Bolt verifies again), so no forged or
        # malformed request reaches a parser, and none is answered with a 500.
        if not _ssl_check(body) and not _signed(verifier, body, dict(request.headers)):
            return JSONResponse({"error": "invalid request"}, status.HTTP_401_UNAUTHORIZED)
        try:
            bolt_request = to_bolt_request(request, body)
        except Exception as error:  # Bolt reads the team, user and authorizations right here
            # Verified, so from Slack: acknowledged like any other, or Slack would retry it.
            log.warning("ignored a Slack request Bolt cannot read (%s)", type(error).__name__)
            return Response(status_code=status.HTTP_200_OK)
        answer = await to_thread.run_sync(bolt.dispatch, bolt_request, limiter=dispatchers)
        if answer.status == status.HTTP_404_NOT_FOUND:
            # Slack retries anything it doesn't see acknowledged; an event nobody listens
            # to is still received.
            return Response(status_code=status.HTTP_200_OK)
        return to_starlette_response(answer)
