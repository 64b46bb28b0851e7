"""The HTTP app: Slack's Request URL, the intake API, health and metrics, on one port.

This module is the composition root: it is the one place in `bot/` that knows the Slack
listeners in `handlers/`, and it wires them to the domain.
"""

import hmac
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import parse_qs

from anyio import CapacityLimiter, to_thread
from fastapi import Depends, FastAPI, Header, HTTPException, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from sqlalchemy.exc import OperationalError
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import handlers
from bot import metrics
from bot.intake import Unstorable
from bot.logs import RequestContext
from bot.runtime import Runtime
from bot.schemas import LeadCreated, LeadIn, LeadPublic
from bot.settings import SettingsError
from storage import outbox
from storage.db import ping, schema_is_current

log = logging.getLogger(__name__)
MAX_BODY = 1_000_000
# Threads that run Bolt for Slack's requests (hand-overs have a writer thread of their own,
# `bot.intake.Intake`). Few on purpose: one interpreter lock runs one thread at a time, and
# forty threads (the thread pool's default) taking turns on fifty clicks at once kept the
# event loop from reading the requests still waiting. Eight leave room for requests that wait
# on Slack (a modal opened), on a slow query (`/baton stats`) or on SQLite's one writer.
REQUEST_THREADS = 8


# Payload types whose listeners Bolt finds by their first action, which it reads before any
# middleware or listener runs.
_WITH_ACTIONS = frozenset({"block_actions", "interactive_message"})


def _unreadable(body: dict[str, Any]) -> str | None:
    """Why Bolt cannot read a verified payload, if a look at its shape can tell."""
    if body.get("type") in _WITH_ACTIONS:
        actions = body.get("actions")
        if not isinstance(actions, list) or not actions:
            return "no actions"
        if not all(isinstance(action, dict) for action in actions):
            return "an action that is not an object"
    return None


class SlackApp(App):
    """Bolt, answering every verified request `200`, as Slack expects, even one it cannot read.

    Bolt reads what it needs from a payload before any listener runs (the first action of a
    `block_actions`, the user, the team, the authorizations) and assumes Slack's shapes; a
    payload of another shape would raise there, outside the listeners and `@app.error`, and
    be answered `500`, which Slack retries. A shape known to be unreadable is ignored with a
    line in the log; anything else Bolt trips over is logged with its traceback. Both HTTP and
    Socket Mode dispatch through here.
    """

    def dispatch(self, req: BoltRequest) -> BoltResponse:
        body = req.body if isinstance(req.body, dict) else {}
        if problem := _unreadable(body):
            log.info("ignored a Slack %s payload: %s", body.get("type"), problem)
            return BoltResponse(status=200, body="")
        try:
            return super().dispatch(req)
        except Exception:
            log.exception("a Slack request of type %r could not be read", body.get("type"))
            return BoltResponse(status=200, body="")


def slack_app(runtime: Runtime) -> App:
    """Bolt with signature checks on; no auth.test round trip, the bot token is known.

    Without a signing secret (Socket Mode alone, where Slack's requests come over Baton's own
    authenticated connection) there is nothing to check a request with: such an app is only
    ever given to Socket Mode, and `create_app` serves no `/slack/events` at all.

    Listeners run in the thread that answers Slack (`process_before_response`): one that
    acknowledges at once leaves its work to `Runtime.later`, so the answer never waits for a
    free listener thread, and modal submissions and slash commands can answer with their result.
    """
    token = runtime.settings.slack_bot_token or ""

    def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, bot_token=token)

    app = SlackApp(
        signing_secret=runtime.settings.slack_signing_secret or "",
        client=runtime.client,
        authorize=authorize,
        process_before_response=True,
        ignoring_self_events_enabled=False,
        request_verification_enabled=bool(runtime.settings.slack_signing_secret),
    )

    @app.error
    def failed(error: Exception) -> BoltResponse:
        """A listener that failed was still heard: Slack gets its 200 (a 500 would make it
        retry an event, or show the person an error), and the log gets the traceback."""
        log.error("a Slack listener failed", exc_info=error)
        return BoltResponse(status=200, body="")

    handlers.register(app, runtime)
    return app


class BodyLimit:
    """ASGI middleware: refuse a body over `limit` bytes with 413, whatever its framing.

    A `Content-Length` over the limit is refused before anything is read. A chunked body has
    no length to check, so it is read here and reading stops with the chunk that takes it past
    the limit: a client streaming gigabytes costs at most `limit` plus one chunk of memory.
    """

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.limit:
            await self._refuse(scope, receive, send)
            return
        body = bytearray()
        last: Message = {"type": "http.request", "body": b"", "more_body": False}
        while True:
            message = await receive()
            if message["type"] != "http.request":
                last = message  # the client went away; let the app see that
                break
            body += message.get("body", b"")
            if len(body) > self.limit:
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        pending = [{"type": "http.request", "body": bytes(body), "more_body": False}]
        if last["type"] != "http.request":
            pending = [last]

        async def replay() -> Message:
            return pending.pop(0) if pending else await receive()

        await self.app(scope, replay, send)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send) -> None:
        answer = JSONResponse(
            {"detail": "request body over 1 MB"}, status.HTTP_413_CONTENT_TOO_LARGE
        )
        await answer(scope, receive, send)


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


def socket_mode(runtime: Runtime) -> SocketModeHandler:
    """The same listeners over a Socket Mode connection, for Baton behind a firewall."""
    assert runtime.settings.slack_app_token
    return SocketModeHandler(slack_app(runtime), runtime.settings.slack_app_token)


def connect_socket_mode(runtime: Runtime) -> SocketModeHandler:
    """Open the Socket Mode connection, or say in one line why Slack would not have it."""
    handler = socket_mode(runtime)
    try:
        handler.connect()
    except SlackApiError as error:
        code = error.response.get("error") if error.response is not None else None
        raise SettingsError(
            f"Slack refused SLACK_APP_TOKEN ({code or error}): set it to an app-level token "
            "(xapp-…) with connections:write, from your Slack app's Basic Information page"
        ) from None
    except OSError as error:
        raise SettingsError(
            f"cannot reach Slack to open Socket Mode ({type(error).__name__}: {error}); "
            f"check the network or SLACK_API_URL ({runtime.settings.slack_api_url})"
        ) from None
    return handler


def _field_errors(error: RequestValidationError) -> list[dict[str, Any]]:
    """FastAPI's shape without echoing the input back (it may be 1 MB, or personal data)."""
    return [
        {"loc": list(item["loc"]), "msg": item["msg"], "type": item["type"]}
        for item in error.errors()
    ]


def _serve_slack(api: FastAPI, runtime: Runtime, bolt: App, verifier: SignatureVerifier) -> None:
    """`POST /slack/events`: events, interactivity and slash commands on one Request URL."""
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


def create_app(runtime: Runtime, bolt: App | None = None) -> FastAPI:
    """The HTTP app. `POST /slack/events` is served only with a signing secret to verify every
    request with; in Socket Mode without one it does not exist, so nobody who reaches the port
    can act in Slack's name."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if not runtime.started:
            await run_in_threadpool(runtime.start)
        yield
        await run_in_threadpool(runtime.stop)

    api = FastAPI(
        title="Baton",
        summary="Marketing hands over leads; Baton posts the qualified ones to Sales.",
        version="1.0",
        lifespan=lifespan,
    )

    api.add_middleware(BodyLimit, limit=MAX_BODY)
    api.add_middleware(RequestContext)  # outermost: even a 413 gets a request id

    @api.exception_handler(RequestValidationError)
    async def invalid_body(_: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _field_errors(error)}, status.HTTP_422_UNPROCESSABLE_CONTENT)

    @api.exception_handler(Unstorable)
    async def unstorable(_: Request, error: Unstorable) -> JSONResponse:
        """The database refused this lead for what it holds: the client's to change, in the
        shape of every other field error."""
        loc = ["body", error.field] if error.field else ["body"]
        detail = [{"loc": loc, "msg": error.reason, "type": "value_error"}]
        return JSONResponse({"detail": detail}, status.HTTP_422_UNPROCESSABLE_CONTENT)

    @api.exception_handler(OperationalError)
    async def database_down(_: Request, error: OperationalError) -> JSONResponse:
        """The database is away: nothing was stored, and the client may simply try again."""
        log.warning("database unavailable: %s", type(error.orig).__name__)
        return JSONResponse(
            {"detail": "the database is unavailable; nothing was stored, please retry"},
            status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "5"},
        )

    async def intake_token(authorization: Annotated[str | None, Header()] = None) -> None:
        """A comparison, made on the event loop: a thread for it would cost more than it does."""
        expected = runtime.settings.baton_intake_token
        scheme, _, given = (authorization or "").partition(" ")
        if (
            not expected
            or scheme.lower() != "bearer"
            or not hmac.compare_digest(given.encode(), expected.encode())
        ):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "a valid 'Authorization: Bearer <BATON_INTAKE_TOKEN>' header is required",
                headers={"WWW-Authenticate": "Bearer"},
            )

    @api.post(
        "/api/leads",
        status_code=status.HTTP_201_CREATED,
        response_model=LeadPublic | LeadCreated,
        responses={200: {"model": LeadPublic, "description": "external_id seen before"}},
        dependencies=[Depends(intake_token)],
    )
    async def hand_over(lead: LeadIn, response: Response) -> LeadCreated | LeadPublic:
        """Hand over one lead. Answers once the lead and its card are stored."""
        result = await runtime.intake.hand_over(lead, by="api")
        if not result.created:
            response.status_code = status.HTTP_200_OK
            return LeadPublic.of(result.lead)
        metrics.LEADS_RECEIVED.labels(qualified=str(result.lead.qualified).lower()).inc()
        return LeadCreated(
            id=result.lead.id, qualified=result.lead.qualified, reasons=result.lead.reasons
        )

    secret = runtime.settings.slack_signing_secret
    if secret:
        _serve_slack(api, runtime, bolt or slack_app(runtime), SignatureVerifier(secret))

    @api.get("/healthz", include_in_schema=False)
    def healthz() -> JSONResponse:
        problems = []
        queue: dict[str, int] | None = None
        try:
            ping(runtime.engine)
            if not schema_is_current(runtime.engine):
                problems.append("the database schema is not current: run baton run to migrate")
            with runtime.ctx.sessions() as session:
                queue = {
                    "pending": outbox.count_pending(session=session),
                    "dead": outbox.count_dead(session=session),
                }
        except Exception as error:
            problems.append(f"database unreachable: {type(error).__name__}")
        if not runtime.started:
            problems.append("workers are not running")
        clock = runtime.clockwork
        swept = clock.last_sweep
        age = (datetime.now(UTC) - swept).total_seconds() if swept else None
        if not clock.running:
            problems.append("the clock is not running")
        elif age is None or age > 3 * clock.sweep_every.total_seconds():
            problems.append("the clock has not swept recently")
        body = {
            "status": "unavailable" if problems else "ok",
            "clock": {"running": clock.running, "last_sweep_seconds_ago": age},
            # Dead letters are reported, not a reason for 503: a channel's permissions are no
            # reason to take a healthy replica out of the load balancer.
            "outbox": queue,
        }
        if problems:
            body["problems"] = problems
        return JSONResponse(body, 503 if problems else 200)

    @api.get("/metrics", include_in_schema=False)
    def prometheus() -> Response:
        try:
            with runtime.ctx.sessions() as session:
                metrics.OUTBOX_DEAD.set(outbox.count_dead(session=session))
                metrics.OUTBOX_PENDING.set(outbox.count_pending(session=session))
        except Exception:
            log.warning("metrics: could not count the outbox", exc_info=True)
        return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)

    return api
