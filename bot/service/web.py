"""The HTTP app, composed: middleware, error answers, and the routes, one module each.

This is the composition root of Baton's HTTP side: the one place that puts the intake API,
the CRMs' webhooks, Slack's Request URL (`bot.slack.events`) or Teams' messaging endpoint
(`POST /api/messages`, with `platform: teams`), health and metrics on one port. Each route
lives in a module of its own (`bot.service.endpoints`, `bot.slack.events`).
"""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.concurrency import run_in_threadpool

from bot.intake import Unstorable
from bot.service.body_limit import MAX_BODY, BodyLimit
from bot.service.endpoints import crm, handover, health, prometheus
from bot.service.logs import RequestContext
from bot.service.runtime import Runtime
from bot.slack import events
from bot.slack.app import SlackApp, slack_app

log = logging.getLogger(__name__)


def create_app(runtime: Runtime, bolt: SlackApp | None = None) -> FastAPI:
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
        # FastAPI's own OpenTelemetry: Baton configures none (its metrics are `/metrics`, its
        # logs `bot.service.logs`), and asking whether anyone did costs every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    api.add_middleware(BodyLimit, limit=MAX_BODY)
    api.add_middleware(RequestContext)  # outermost: even a 413 gets a request id
    api.add_exception_handler(RequestValidationError, _invalid_body)
    api.add_exception_handler(Unstorable, _unstorable)
    api.add_exception_handler(OperationalError, _database_down)

    handover.mount(api, runtime)
    crm.mount(api, runtime)
    secret = runtime.settings.slack_signing_secret
    if runtime.agreement.platform == "teams":
        # Imported on Teams only, as Microsoft's SDK is (bot.service.runtime._on_teams).
        from bot.service.endpoints import teams

        teams.mount(api, runtime)
    elif secret:
        events.mount(api, runtime, bolt or slack_app(runtime), secret)
    health.mount(api, runtime)
    prometheus.mount(api, runtime)
    return api


def _field_errors(error: RequestValidationError) -> list[dict[str, Any]]:
    """FastAPI's shape without echoing the input back (it may be 1 MB, or personal data)."""
    return [
        {"loc": list(item["loc"]), "msg": item["msg"], "type": item["type"]}
        for item in error.errors()
    ]


async def _invalid_body(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    return JSONResponse({"detail": _field_errors(error)}, status.HTTP_422_UNPROCESSABLE_CONTENT)


async def _unstorable(_: Request, error: Exception) -> JSONResponse:
    """The database refused this lead for what it holds: the client's to change, in the
    shape of every other field error."""
    assert isinstance(error, Unstorable)
    loc = ["body", error.field] if error.field else ["body"]
    detail = [{"loc": loc, "msg": error.reason, "type": "value_error"}]
    return JSONResponse({"detail": detail}, status.HTTP_422_UNPROCESSABLE_CONTENT)


async def _database_down(_: Request, error: Exception) -> JSONResponse:
    """The database is away: nothing was stored, and the client may simply try again."""
    assert isinstance(error, OperationalError)
    log.warning("database unavailable: %s", type(error.orig).__name__)
    return JSONResponse(
        {"detail": "the database is unavailable; nothing was stored, please retry"},
        status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": "5"},
    )
