"""`GET /healthz`: 200 only when the database is reachable, its schema current and the
workers and the clock run; otherwise 503 with what is wrong."""

from datetime import UTC, datetime

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from bot.service.runtime import Runtime
from storage import outbox
from storage.db import ping, schema_is_current


def mount(api: FastAPI, runtime: Runtime) -> None:

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
        clock = runtime.scheduler
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
