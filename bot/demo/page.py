"""The demo's web page: Slack as a person sees it, served beside the stand-in.

It shows what Baton posted (read from the stand-in, as a Slack client reads its workspace)
and sends what a person did to Baton the way Slack would (`bot.demo.payloads`). No rule of
the agreement lives here: a hand-over goes to Baton's real `POST /api/leads` and its answer,
a 201 or a 422 with every field error, comes back to the form unchanged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from bot.agreement import Agreement
from bot.demo.clock import DemoClock
from bot.demo.payloads import Answer, Slack, post
from bot.demo.samples import sample_leads
from bot.demo.slack_standin import FakeSlack

STATIC = Path(__file__).resolve().parent / "static"
LONG_POLL = 20.0  # seconds a state request waits for a change before answering anyway


@dataclass(frozen=True)
class Person:
    id: str
    name: str
    role: str


def people(agreement: Agreement) -> list[Person]:
    """The personas a visitor can act as: the agreement's people, with Nordic names."""
    who = agreement.people
    sellers = [
        Person(user, name, "seller")
        for user, name in zip(who.sales, ("Sofie Madsen", "Mikkel Lund"), strict=False)
    ]
    return [
        *sellers,
        Person(who.sales_manager, "Henrik Bach", "sales manager"),
        Person(who.marketing[0], "Ida Kjær", "marketing"),
        Person(who.ceo, "Anna Winther", "CEO"),
    ]


class Act(BaseModel):
    user: str
    action: dict[str, Any]
    channel: str | None = None
    ts: str | None = None
    view_id: str | None = None
    ephemeral: bool = False


class Submit(BaseModel):
    user: str
    view_id: str
    values: dict[str, Any]


class Close(BaseModel):
    user: str
    view_id: str


class Command(BaseModel):
    user: str
    channel: str
    text: str


class Who(BaseModel):
    user: str


def _relayed(answer: Answer) -> Response:
    """Baton's answer as it came, for the page to show."""
    return Response(answer.body, answer.status, media_type="application/json")


def create_page(
    *,
    agreement: Agreement,
    standin: FakeSlack,
    slack: Slack,
    clock: DemoClock,
    intake_token: str,
) -> FastAPI:
    page = FastAPI(title="Baton demo", openapi_url=None, docs_url=None, redoc_url=None)
    page.mount("/static", StaticFiles(directory=STATIC), name="static")
    cast = people(agreement)
    for person in cast:
        standin.set_user(person.id, real_name=person.name, name=person.name.split()[0].lower())
    intake = f"{slack.baton_url}/api/leads"
    headers = {"Authorization": f"Bearer {intake_token}", "Content-Type": "application/json"}

    @page.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @page.get("/demo/config")
    def config() -> dict[str, Any]:
        channels = agreement.channels
        return {
            "people": [person.__dict__ for person in cast],
            "channels": [
                {"id": channels.sales, "name": "sales"},
                {"id": channels.marketing, "name": "marketing"},
            ],
            "dms": {person.id: standin.dm_channel(person.id) for person in cast},
            "speed": clock.speed,
            "timezone": str(agreement.tz),
            "countries": agreement.qualified_lead.countries,
            "industries": agreement.qualified_lead.industries,
            "stages": agreement.qualified_lead.buying_stages,
        }

    @page.get("/demo/state")
    async def state(user: str, after: int = -1) -> dict[str, Any]:
        await run_in_threadpool(standin.wait_change, after, LONG_POLL)
        seen = standin.snapshot(user)
        return seen | {"now": clock.now().isoformat()}

    @page.get("/demo/files/{file_id}")
    def file(file_id: str) -> Response:
        """A file Baton uploaded to the stand-in (the weekly chart), as Slack shows it in the
        messages that name it."""
        found = standin.file_content(file_id)
        if found is None:
            return JSONResponse({"detail": "no such file"}, 404)
        content, kind = found
        return Response(content, media_type=kind, headers={"Cache-Control": "max-age=3600"})

    @page.post("/demo/act")
    async def act(body: Act) -> Response:
        answer = await run_in_threadpool(
            slack.block_action,
            body.user,
            body.action,
            channel=body.channel,
            ts=body.ts,
            view_id=body.view_id,
            ephemeral=body.ephemeral,
        )
        return _relayed(answer)

    @page.post("/demo/submit")
    async def submit(body: Submit) -> JSONResponse:
        """Slack's part after a submission: close the modal, show errors in it, or replace it."""
        answer = await run_in_threadpool(
            slack.view_submission, body.user, body.view_id, body.values
        )
        if answer.status != 200:
            return JSONResponse({"status": answer.status}, answer.status)
        reply = answer.json() or {}
        action = reply.get("response_action")
        if action == "errors":
            return JSONResponse({"errors": reply.get("errors", {})})
        if action in ("update", "push"):
            standin.replace_view(body.view_id, reply["view"])
        else:
            standin.replace_view(body.view_id, None)
        return JSONResponse({})

    @page.post("/demo/close")
    def close(body: Close) -> JSONResponse:
        standin.replace_view(body.view_id, None)
        return JSONResponse({})

    @page.post("/demo/command")
    async def command(body: Command) -> JSONResponse:
        """A slash command: Slack shows the answer's body to the person who typed it."""
        answer = await run_in_threadpool(slack.slash_command, body.user, body.channel, body.text)
        if answer.status != 200:
            return JSONResponse({"status": answer.status}, answer.status)
        if answer.body:
            shown = answer.json() or {"text": answer.body.decode("utf-8", "replace")}
            standin.add_ephemeral(body.channel, body.user, shown)
        return JSONResponse({})

    @page.post("/demo/home")
    async def home(body: Who) -> Response:
        return _relayed(await run_in_threadpool(slack.home_opened, body.user))

    @page.post("/demo/leads")
    async def hand_over(request: Request) -> Response:
        """The form's lead, to Baton's `POST /api/leads` as it was typed; Baton's answer back."""
        raw = await request.body()
        return _relayed(await run_in_threadpool(post, intake, raw, headers))

    @page.post("/demo/samples")
    async def samples() -> JSONResponse:
        """Twenty sample leads, one request each, as a marketing tool would send them."""
        tally = {"qualified": 0, "not qualified": 0, "already known": 0, "refused": 0}
        for lead in sample_leads(clock.now()):
            answer = await run_in_threadpool(post, intake, json.dumps(lead).encode(), headers)
            found = answer.json() or {}
            if answer.status == 201:
                tally["qualified" if found.get("qualified") else "not qualified"] += 1
            elif answer.status == 200:
                tally["already known"] += 1
            else:
                tally["refused"] += 1
        return JSONResponse(tally)

    return page
