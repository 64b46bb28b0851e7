"""Everything one Baton process runs, built from the settings and the agreement."""

import logging
from dataclasses import dataclass, field
from pathlib import Path

from slack_sdk import WebClient
from sqlalchemy import Engine

from bot.agreement import Agreement, load_agreement
from bot.clock import Clock, utcnow
from bot.context import Context
from bot.courier import Courier
from bot.rendering import Renderer
from bot.scheduler import Clockwork
from bot.settings import Settings
from bot.slack import make_client
from storage import leads
from storage.db import make_engine, migrate, session_factory, transaction

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    agreement: Agreement
    engine: Engine
    ctx: Context
    client: WebClient
    renderer: Renderer
    courier: Courier
    clockwork: Clockwork
    started: bool = field(default=False)

    def start(self) -> None:
        """Migrate, mirror the agreement's people, then start delivering."""
        migrate(self.engine)
        people = self.agreement.people
        roles = [(people.sales_manager, "sales_manager"), (people.ceo, "ceo")]
        roles += [(user, "sales") for user in people.sales]
        roles += [(user, "marketing") for user in people.marketing]
        with transaction(self.ctx.sessions) as session:
            leads.sync_people(session=session, roles=roles)
        self.courier.start()
        self.clockwork.start()
        self.started = True

    def stop(self) -> None:
        self.clockwork.stop()
        self.courier.stop()
        self.started = False

    def wake(self) -> None:
        """Something changed: deliver new messages now and re-arm the clock."""
        self.courier.wake()
        self.clockwork.arm()


def build(
    settings: Settings,
    agreement: Agreement | None = None,
    *,
    clock: Clock = utcnow,
    templates: Path | None = None,
) -> Runtime:
    agreement = agreement or load_agreement(settings.baton_agreement)
    engine = make_engine(settings.database_url)
    ctx = Context(agreement=agreement, sessions=session_factory(engine), clock=clock)
    client = make_client(settings)
    renderer = Renderer(agreement, templates)
    courier = Courier(ctx, client, renderer)
    runtime = Runtime(
        settings=settings,
        agreement=agreement,
        engine=engine,
        ctx=ctx,
        client=client,
        renderer=renderer,
        courier=courier,
        clockwork=Clockwork(ctx, on_work=courier.wake),
    )
    ctx.wake = runtime.wake
    return runtime
