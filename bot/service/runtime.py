"""Everything one Baton process runs, built from the settings and the agreement."""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from bot.agreement import Agreement, is_email
from bot.agreement_file import AgreementError, load_agreement
from bot.clock import Clock, utcnow
from bot.context import Context
from bot.crm.courier import CrmTransport
from bot.crm.hubspot import HubSpot
from bot.crm.pipedrive import Pipedrive
from bot.delivery.interface import Transport
from bot.delivery.worker import Courier
from bot.intake import Intake
from bot.people import Roster
from bot.scheduler import DeadlineScheduler
from bot.service.addresses import ADDRESSES
from bot.service.outbox_transport import Transports
from bot.service.settings import Settings
from bot.slack.client import SlackClient, SlackDirectory, make_client, without_retries
from bot.slack.render import Renderer
from bot.slack.transport import SlackTransport
from storage import leads
from storage.db import make_engine, migrate, session_factory, transaction

if TYPE_CHECKING:
    from bot.teams.loop import TeamsClients

log = logging.getLogger(__name__)

# Threads for the work a click causes after Slack has had its answer. Few on purpose: they
# share one interpreter lock with the threads answering Slack, so each extra thread doing
# database work makes every waiting answer slower, and the database serialises writes anyway.
WORKERS = 4


@dataclass
class Runtime:
    settings: Settings
    agreement: Agreement
    engine: Engine
    ctx: Context
    client: SlackClient | None
    """Slack's Web API client; None on Teams."""
    renderer: Renderer
    courier: Courier
    scheduler: DeadlineScheduler
    intake: Intake
    roster: Roster
    hubspot: HubSpot | None = None
    """HubSpot's API, with `HUBSPOT_TOKEN`: reads what app webhooks name."""
    pipedrive: Pipedrive | None = None
    """Pipedrive's API, with `PIPEDRIVE_API_TOKEN`: reads what webhooks name."""
    teams: TeamsClients | None = None
    """On Teams, the outbox's clients of Microsoft (their own event loop, in a thread)."""
    started: bool = field(default=False)
    workers: ThreadPoolExecutor | None = field(default=None)

    def start(self) -> None:
        """Migrate, resolve and mirror the agreement's people, then start delivering.

        Raises AgreementError, one line per address, when a person named by email cannot be
        resolved: Baton would not know who may claim, or whom to escalate to."""
        migrate(self.engine)
        self.resolve_people()
        for pending in self.roster.pending:
            log.warning("%s", pending)
        self.workers = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="baton-work")
        self.intake.start()
        self.courier.start()
        self.scheduler.start()
        self.started = True

    def resolve_people(self) -> None:
        """Put the platform's ids in place of the addresses the agreement names people by, and
        mirror the roles in the database; again whenever the platform introduces people (an
        installation in Teams). Raises AgreementError as `start` says."""
        problems = self.roster.resolve(self.agreement, self.settings.baton_agreement)
        if problems:
            raise AgreementError(self.settings.baton_agreement, problems)
        people = self.agreement.people
        roles = [(people.sales_manager, "sales_manager"), (people.ceo, "ceo")]
        roles += [(user, "sales") for user in people.sales]
        roles += [(user, "marketing") for user in people.marketing]
        known = [(user, role) for user, role in roles if not is_email(user)]  # not yet resolved
        with transaction(self.ctx.sessions) as session:
            leads.sync_people(session=session, roles=known)

    def stop(self) -> None:
        """Finish the work already acknowledged to Slack, then stop the clock and the courier."""
        self.intake.stop()
        if self.workers:
            self.workers.shutdown(wait=True)
            self.workers = None
        self.scheduler.stop()
        self.courier.stop()
        for client in (self.hubspot, self.pipedrive):
            if client is not None:
                client.close()
        if self.teams is not None:
            self.teams.close()
        self.started = False

    def later(self, work: Callable[..., None], *args: Any) -> None:
        """Do `work` after Slack has had its answer: Slack waits for nothing else, and an answer
        never waits for another click's database work."""
        if self.workers is None:
            raise RuntimeError("Baton is not running: start() it before handling Slack requests")
        self.workers.submit(self._after_answers, work, *args)

    def _after_answers(self, work: Callable[..., None], *args: Any) -> None:
        self.ctx.answers.let_through()
        _logged(work, *args)

    def wake(self) -> None:
        """Something changed: deliver new messages now and re-arm the clock."""
        self.courier.wake()
        self.scheduler.arm_soon()


def _on_teams(
    settings: Settings, ctx: Context, clock: Clock
) -> tuple[TeamsClients, Transport, Callable[[str], str | None], Roster]:
    """The Teams adapter's parts: its clients, its transport, who an address is, the roster.

    Imported here rather than with this module: Microsoft's Teams SDK takes about half a
    second and 28 MB to import, which a process on Slack has no use for."""
    from bot.teams.cards import CardRenderer
    from bot.teams.directory import TeamsDirectory
    from bot.teams.loop import TeamsClients
    from bot.teams.places import StoredNames, StoredPeople, StoredPlaces
    from bot.teams.transport import TeamsTransport

    teams = TeamsClients(settings, clock=clock)
    places = StoredPlaces(
        ctx.sessions, service_url=settings.teams_service_url, app_id=settings.teams_app_id
    )
    cards = CardRenderer(ctx.agreement, StoredNames(StoredPeople(ctx.sessions)))
    roster = Roster(TeamsDirectory(ctx.sessions), ctx.sessions, clock, partial=True)
    return teams, TeamsTransport(ctx, teams, cards, places), places.email_of, roster


def build(
    settings: Settings,
    agreement: Agreement | None = None,
    *,
    clock: Clock = utcnow,
    templates: Path | None = None,
) -> Runtime:
    agreement = agreement or load_agreement(settings.baton_agreement, addresses=ADDRESSES)
    engine = make_engine(settings.database_url)
    ctx = Context(agreement=agreement, sessions=session_factory(engine), clock=clock)
    renderer = Renderer(agreement, templates)
    hubspot = (
        HubSpot(settings.hubspot_token, settings.hubspot_api_url)
        if settings.hubspot_token
        else None
    )
    pipedrive = (
        Pipedrive(settings.pipedrive_api_token, settings.pipedrive_api_url)
        if settings.pipedrive_api_token
        else None
    )
    crms = [crm for crm in (hubspot, pipedrive) if crm is not None]
    ctx.crms = frozenset(crm.crm for crm in crms)
    client: SlackClient | None = None
    teams: TeamsClients | None = None
    chat: Transport
    if agreement.platform == "teams":  # no Slack client: the outbox delivers to Teams
        teams, chat, email_of, roster = _on_teams(settings, ctx, clock)
    else:
        client = make_client(token=settings.slack_bot_token, base_url=settings.slack_api_url)
        chat = SlackTransport(ctx, client, renderer)
        email_of = SlackDirectory(without_retries(client)).email_of
        roster = Roster(SlackDirectory(client), ctx.sessions, clock)
    courier = Courier(ctx, Transports(chat, CrmTransport(ctx, crms, email_of)))
    runtime = Runtime(
        settings=settings,
        agreement=agreement,
        engine=engine,
        ctx=ctx,
        client=client,
        renderer=renderer,
        courier=courier,
        teams=teams,
        scheduler=DeadlineScheduler(ctx, on_work=courier.wake),
        intake=Intake(ctx),
        roster=roster,
        hubspot=hubspot,
        pipedrive=pipedrive,
    )
    ctx.wake = runtime.wake
    return runtime


def settle() -> None:
    """Take everything built so far out of the garbage collector's sight, once it is all built.

    The modules, templates, agreement and caches live as long as the process. A full
    collection walks every object it tracks and stops every thread meanwhile: with all of
    that in sight, tens of milliseconds in the middle of the answers to a burst of clicks.
    Collected first, so nothing already garbage is kept.
    """
    gc.collect()
    gc.freeze()


def _logged(work: Callable[..., None], *args: Any) -> None:
    """A worker's failure goes to the log; a future nobody reads would swallow it."""
    try:
        work(*args)
    except Exception:
        log.exception("%s failed after it was acknowledged", getattr(work, "__name__", work))
