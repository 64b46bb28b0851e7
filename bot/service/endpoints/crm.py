"""`POST /api/crm/hubspot` and `POST /api/crm/pipedrive`: the CRMs hand leads over by webhook.

Each route exists only when its credentials are set (`HUBSPOT_CLIENT_SECRET`;
`PIPEDRIVE_WEBHOOK_USER` and `PIPEDRIVE_WEBHOOK_PASSWORD`), so nobody can hand over in a
CRM's name where none is connected. `bot.crm.inbound` checks and reads the request, in a
worker thread since it may call the CRM's API; the leads it finds go through the same
`Intake` as `POST /api/leads`, each taken once by its CRM object id (`external_id`), and
the deals it says are won mark their leads won (`bot.wins`).
"""

import logging
from functools import partial
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from bot import metrics, wins
from bot.crm import inbound
from bot.intake import Unstorable
from bot.service.runtime import Runtime

log = logging.getLogger(__name__)

RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the leads handed over (`created` false for one seen before), and the "
        "deals won with the lead each marked won (null when no lead is the deal's)"
    },
    401: {"description": "not signed by the CRM, or signed too long ago: nothing stored"},
    422: {"description": "a payload that cannot become a lead, naming what is missing"},
    503: {"description": "the CRM's API could not be read: send the webhook again"},
}


def mount(api: FastAPI, runtime: Runtime) -> None:
    settings = runtime.settings
    secret = settings.hubspot_client_secret
    if secret:

        @api.post("/api/crm/hubspot", responses=RESPONSES)
        async def hubspot(request: Request) -> JSONResponse:
            """HubSpot's workflow webhook (one contact) or app webhook batch, signed (v3)."""
            answer = await run_in_threadpool(
                partial(
                    inbound.hubspot,
                    method=request.method,
                    uri=signed_uri(request, settings.baton_public_url),
                    body=await request.body(),
                    headers=request.headers,
                    now=runtime.ctx.clock(),
                    secret=secret,
                    crm=runtime.agreement.crm,
                    client=runtime.hubspot,
                )
            )
            return await _hand_over(runtime, "hubspot", answer)

    user, password = settings.pipedrive_webhook_user, settings.pipedrive_webhook_password
    if user and password:

        @api.post("/api/crm/pipedrive", responses=RESPONSES)
        async def pipedrive(request: Request) -> JSONResponse:
            """A Pipedrive webhook (v2), behind HTTP Basic auth."""
            answer = await run_in_threadpool(
                partial(
                    inbound.pipedrive,
                    authorization=request.headers.get("authorization"),
                    body=await request.body(),
                    user=user,
                    password=password,
                    crm=runtime.agreement.crm,
                    client=runtime.pipedrive,
                )
            )
            return await _hand_over(runtime, "pipedrive", answer)


def signed_uri(request: Request, public_url: str | None) -> str:
    """The URL the CRM called, as it signs it: Baton's public address when one is set (behind
    a proxy the request arrives at another), else the address the request came in on."""
    if not public_url:
        return str(request.url)
    query = request.url.query
    return f"{public_url}{request.url.path}" + (f"?{query}" if query else "")


async def _hand_over(runtime: Runtime, crm: str, answer: inbound.Answer) -> JSONResponse:
    """The leads of a 200 handed over one by one. In a batch, a lead the database refuses is
    listed with the refused and the others are kept, so the CRM need not send the good ones
    again; a request's one lead refused is a 422."""
    received = answer.received
    if answer.status != 200 or received is None:
        return JSONResponse(answer.body, answer.status, headers=answer.headers)
    taken: list[dict[str, Any]] = []
    refused = [problem.errors for problem in received.refused]
    for lead_in in received.leads:
        try:
            result = await runtime.intake.hand_over(lead_in, by=crm)
        except Unstorable as error:
            if len(received.leads) == 1 and not refused:
                raise  # the request's one lead: a 422, as from POST /api/leads
            loc = ["body", "crm", crm, *([error.field] if error.field else [])]
            refused.append([{"loc": loc, "msg": error.reason, "type": "value_error"}])
            continue
        if result.created:
            metrics.LEADS_RECEIVED.labels(qualified=str(result.lead.qualified).lower()).inc()
        taken.append(
            {
                "external_id": lead_in.external_id,
                "id": result.lead.id,
                "qualified": result.lead.qualified,
                "created": result.created,
            }
        )
    won = []
    for deal in received.won:
        found = wins.Deal(crm, deal.deal, deal.external_ids, deal.emails, deal.value, deal.currency)
        won.append(
            {"deal": deal.deal, "lead": await run_in_threadpool(wins.deal_won, runtime.ctx, found)}
        )
    log.info(
        "crm: %s handed over %d lead(s), refused %d, %d deal(s) won",
        crm,
        len(taken),
        len(refused),
        len(won),
    )
    return JSONResponse({"leads": taken, "won": won, "refused": refused})
