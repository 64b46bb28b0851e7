"""`GET /metrics`: Baton's Prometheus metrics (`bot.metrics`), with the outbox counted now."""

import logging

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot import metrics
from bot.service.runtime import Runtime
from storage import outbox

log = logging.getLogger(__name__)


def mount(api: FastAPI, runtime: Runtime) -> None:

    @api.get("/metrics", include_in_schema=False)
    def prometheus() -> Response:
        try:
            with runtime.ctx.sessions() as session:
                metrics.OUTBOX_DEAD.set(outbox.count_dead(session=session))
                metrics.OUTBOX_PENDING.set(outbox.count_pending(session=session))
        except Exception:
            log.warning("metrics: could not count the outbox", exc_info=True)
        return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)
