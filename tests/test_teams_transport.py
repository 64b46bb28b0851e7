"""The outbox's Teams transport over HTTP against the local fake of Microsoft.

The real worker (`Courier`) takes the rows and hands them to the real transport, whose
clients talk to `tests.fake_teams` the way they talk to Microsoft: a card posted then updated
in place, a reply in its thread, a 1:1 found again after a crash instead of sent twice, a 429
waited out, and a refusal Microsoft says not to retry kept as a dead letter with its reason.
"""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from bot import availability, intake, messages, ownership
from bot.agreement_file import parse_agreement
from bot.context import Context
from bot.delivery.worker import Courier
from bot.scheduler import DeadlineScheduler
from bot.schemas import LeadIn
from bot.teams.cards import CardRenderer
from bot.teams.endpoints import TeamsEndpoints
from bot.teams.loop import TeamsClients
from bot.teams.places import StoredPlaces
from bot.teams.transport import TeamsTransport
from storage import conversations, leads, outbox
from storage.db import make_engine, migrate, session_factory, transaction
from storage.models import Outbox
from tests.fake_teams import TENANT_ID, FakeTeams
from tests.support import AGREEMENT, lead

SALES = "19:5c4a0d3ce1b84b2c9e4d2f8e7a6b1c09@thread.tacv2"
MARKETING = "19:8d1e2fa0b3c44e6f9a7b5c3d2e1f0a9b@thread.tacv2"
MANAGER = "29:1GcS4EyB_oSI8A88XmWBN7NJFyMqe3QGnJdgLfFGkJnVelzRGos0bPbpsfJjcbAD22bmKc4GMbrY2g4"
TEAMS_AGREEMENT = AGREEMENT.replace("C0SALES", f'"{SALES}"').replace("C0MKTG", f'"{MARKETING}"')


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def install_in_team(ctx: Context, teams: FakeTeams) -> None:
    """Baton is added to the team: Teams gives each channel's address and the team's id."""
    with transaction(ctx.sessions) as session:
        for channel in (SALES, MARKETING):
            conversations.remember_conversation(
                session,
                "teams",
                channel,
                at=ctx.clock(),
                kind="channel",
                service_url=teams.service_url,
                tenant_id=TENANT_ID,
                team_id=teams.team_id,
                channel_id=channel,
            )


def install_for(world: "World", person_id: str, account_id: str) -> None:
    """The app is installed for a person: Teams gives their account, tenant and address."""
    with transaction(world.ctx.sessions) as session:
        conversations.remember_person(
            session,
            "teams",
            person_id,
            at=world.ctx.clock(),
            account_id=account_id,
            name="Sofie Holm",
            tenant_id=TENANT_ID,
            service_url=world.teams.service_url,
        )


class World:
    def __init__(self, ctx: Context, teams: FakeTeams, clients: TeamsClients) -> None:
        self.ctx = ctx
        self.teams = teams
        self.places = StoredPlaces(ctx.sessions, service_url=teams.service_url, app_id=teams.app_id)
        self.transport = TeamsTransport(
            ctx, clients, CardRenderer(ctx.agreement), self.places, rate=1000, burst=100
        )
        self.courier = Courier(ctx, self.transport, backoff=0.01, max_backoff=0.05)

    def deliver(self) -> None:
        """Run the worker until nothing is left to try; the clock moves to each wait's end."""
        for _ in range(50):
            self.courier.run_once()
            waiting = [r.next_attempt_at for r in self.rows() if r.sent_at is None]
            waiting = [at for at in waiting if at is not None]
            if not waiting:
                return
            self.ctx.clock.now = max(self.ctx.clock.now, min(waiting))  # type: ignore[attr-defined]
        raise AssertionError(f"the outbox did not settle: {self.rows()}")

    def rows(self) -> list[Outbox]:
        with self.ctx.sessions() as session:
            return list(session.exec(select(Outbox).order_by(Outbox.id)).all())


@pytest.fixture
def world(database_url: str, teams: FakeTeams) -> Iterator[World]:
    engine = make_engine(database_url)
    migrate(engine)
    clock = Clock()
    ctx = Context(
        agreement=parse_agreement(TEAMS_AGREEMENT), sessions=session_factory(engine), clock=clock
    )
    endpoints = TeamsEndpoints(  # type: ignore[call-arg]
        _env_file=None,
        teams_app_id=teams.app_id,
        teams_app_password=teams.password,
        teams_tenant_id=TENANT_ID,
        teams_login_url=teams.url,
        teams_openid_metadata_url=teams.metadata_url,
        teams_service_url=teams.service_url,
        teams_graph_url=f"{teams.url}/graph/v1.0",
    )
    clients = TeamsClients(endpoints, clock=clock)
    install_in_team(ctx, teams)
    yield World(ctx, teams, clients)
    clients.close()
    engine.dispose()


def hand_over(world: World) -> str:
    found = intake.hand_over(world.ctx, LeadIn.model_validate(lead()), by="api")
    return found.lead.id


def card_of(world: World, lead_id: str) -> tuple[str | None, str | None]:
    with world.ctx.sessions() as session:
        found = leads.get(session=session, lead_id=lead_id)
        assert found is not None
        return found.card_conversation, found.card_message_id


def open_chat(world: World, person_id: str, account_id: str) -> str:
    """The person installs the app, and Teams gives the 1:1 and Graph's id of it."""
    install_for(world, person_id, account_id)
    place = world.places.person(person_id)
    assert place is not None
    connector = world.transport.clients.connector
    chat = world.transport.clients.run(lambda: connector.open_personal(place.person))
    with transaction(world.ctx.sessions) as session:
        conversations.remember_person(
            session, "teams", person_id, at=world.ctx.clock(), conversation_id=chat.id
        )
        conversations.remember_conversation(
            session,
            "teams",
            chat.id,
            at=world.ctx.clock(),
            kind="personal",
            service_url=chat.service_url,
            tenant_id=TENANT_ID,
            chat_id=world.teams.graph_chat_id(chat.id),
        )
    return chat.id


def queue_direct(world: World, lead_id: str, user: str) -> None:
    with transaction(world.ctx.sessions) as session:
        messages.direct(
            session=session,
            user=user,
            template="assigned_to_you",
            lead_id=lead_id,
            at=world.ctx.clock(),
            by="U0SELLER1",
        )


# the card --------------------------------------------------------------------------------


def test_a_card_is_posted_to_the_sales_channel_then_updated_in_place(world: World) -> None:
    lead_id = hand_over(world)
    world.deliver()
    (posted,) = world.teams.activities(SALES)
    assert card_of(world, lead_id) == (SALES, posted.id)
    card = posted.body["attachments"][0]["content"]
    assert card["body"][0]["id"].startswith("baton-outbox-")  # stamped for a retry's lookup
    assert "Claim" in [a["title"] for a in card["actions"]]
    with world.ctx.sessions() as session:
        shown = leads.get(session=session, lead_id=lead_id)
        assert shown is not None and shown.card_at is not None  # the clocks started

    with transaction(world.ctx.sessions) as session:
        assert leads.claim(session=session, lead_id=lead_id, user="U0SELLER1", at=world.ctx.clock())
        messages.refresh_card(session=session, lead_id=lead_id, at=world.ctx.clock())
    world.deliver()
    (updated,) = world.teams.activities(SALES)
    assert updated.id == posted.id and updated.updates == 1
    texts = str(updated.body["attachments"][0]["content"])
    assert "Owner U0SELLER1" in texts and "Claim" not in texts
    assert len(world.teams.calls_to("send")) == 1
    assert not world.teams.calls_to("graph")  # first attempts never look


def test_a_reply_goes_into_the_cards_thread(world: World) -> None:
    lead_id = hand_over(world)
    world.deliver()
    _, root = card_of(world, lead_id)
    with transaction(world.ctx.sessions) as session:
        messages.reply_in_thread(
            session=session, lead_id=lead_id, template="released", at=world.ctx.clock(), by="U0X"
        )
    world.deliver()
    _, reply = world.teams.activities(SALES)
    assert reply.conversation == f"{SALES};messageid={root}"
    assert reply.body["replyToId"] == root
    assert "released this lead" in str(reply.body["attachments"][0]["content"])


def test_the_marketing_mirror_is_a_post_in_its_channel(world: World) -> None:
    lead_id = hand_over(world)
    with transaction(world.ctx.sessions) as session:
        messages.post(
            session=session,
            conversation=MARKETING,
            template="closed",
            lead_id=lead_id,
            at=world.ctx.clock(),
            by="U0SELLER1",
            won=True,
        )
    world.deliver()
    (mirrored,) = world.teams.activities(MARKETING)
    assert "Won" in str(mirrored.body["attachments"][0]["content"])


# 1:1s, exactly once ----------------------------------------------------------------------


def test_a_1to1_is_sent_once_across_a_crash_between_post_and_record(world: World) -> None:
    lead_id = hand_over(world)
    world.deliver()
    chat = open_chat(world, "U0MANAGER", MANAGER)
    queue_direct(world, lead_id, "U0MANAGER")
    with transaction(world.ctx.sessions) as session:  # a worker takes the row ...
        (row,) = outbox.take(
            session=session, now=world.ctx.clock(), lease=world.courier.lease, limit=10
        )
        session.expunge(row)
    world.transport.deliver(row, lambda row, method, send, conversation=None: send())
    # ... Teams has the message, and the process dies before the database records it.
    assert len(world.teams.activities(chat)) == 1
    world.ctx.clock.now += timedelta(seconds=16)  # type: ignore[attr-defined]
    world.deliver()
    (sent,) = world.teams.activities(chat)
    (recorded,) = [r for r in world.rows() if r.kind == messages.DIRECT]
    assert recorded.sent_at is not None and recorded.message_id == sent.id
    assert recorded.attempts == 2
    assert len(world.teams.calls_to("graph")) == 1  # the retry looked, and found it


def test_a_1to1_whose_answer_was_lost_is_found_not_sent_again(world: World) -> None:
    lead_id = hand_over(world)
    world.deliver()
    chat = open_chat(world, "U0MANAGER", MANAGER)
    world.teams.drop("send")  # Teams takes it, the connection drops before the answer
    queue_direct(world, lead_id, "U0MANAGER")
    world.deliver()
    (sent,) = world.teams.activities(chat)
    (recorded,) = [r for r in world.rows() if r.kind == messages.DIRECT]
    assert recorded.message_id == sent.id


def test_a_1to1_is_opened_when_the_installation_gave_no_chat(world: World) -> None:
    lead_id = hand_over(world)
    world.deliver()
    install_for(world, "U0MANAGER", MANAGER)
    queue_direct(world, lead_id, "U0MANAGER")
    queue_direct(world, lead_id, "U0MANAGER")
    world.deliver()
    (opened,) = world.teams.calls_to("create_conversation")  # once, then kept
    chat = opened.response["id"]
    assert len(world.teams.activities(chat)) == 2


def test_a_person_baton_cannot_reach_is_a_dead_letter_that_says_why(world: World) -> None:
    lead_id = hand_over(world)
    world.deliver()
    queue_direct(world, lead_id, "U0CEO")
    world.deliver()
    (dead,) = [r for r in world.rows() if r.kind == messages.DIRECT]
    assert dead.sent_at is None and dead.next_attempt_at is None
    assert "U0CEO cannot be reached in Teams" in (dead.error or "")
    assert not world.teams.calls_to("create_conversation")


# Microsoft's answers ---------------------------------------------------------------------


def test_a_429_waits_for_retry_after_then_delivers(world: World) -> None:
    world.teams.throttle("send", retry_after="3")
    started = world.ctx.clock()
    lead_id = hand_over(world)
    world.deliver()
    throttled, posted = world.teams.calls_to("send")
    assert (throttled.status, posted.status) == (429, 201)
    assert card_of(world, lead_id)[1] == posted.response["id"]
    (row,) = world.rows()
    assert row.sent_at is not None and row.sent_at - started >= timedelta(seconds=3)
    assert len(world.teams.activities(SALES)) == 1


def test_an_outage_is_waited_out_and_looked_for_before_posting_again(world: World) -> None:
    world.teams.fail("send", 503, "ServiceUnavailable", times=2)
    hand_over(world)
    world.deliver()
    assert [c.status for c in world.teams.calls_to("send")] == [503, 503, 201]
    assert world.teams.calls_to("graph")  # Microsoft may have taken it: looked first
    assert len(world.teams.activities(SALES)) == 1


def test_a_refusal_microsoft_says_not_to_retry_is_a_dead_letter(world: World) -> None:
    lead_id = hand_over(world)
    world.deliver()
    open_chat(world, "U0MANAGER", MANAGER)
    world.teams.fail("send", 403, "ConversationBlockedByUser", "User blocked the conversation.")
    queue_direct(world, lead_id, "U0MANAGER")
    world.deliver()
    (dead,) = [r for r in world.rows() if r.kind == messages.DIRECT]
    assert dead.sent_at is None and dead.next_attempt_at is None
    assert "ConversationBlockedByUser" in (dead.error or "")
    assert len(world.teams.calls_to("send")) == 2  # the card, and the one refused: no retry


def test_a_412_is_tried_again(world: World) -> None:
    world.teams.fail("send", 412, "PreconditionFailed", "Concurrent operations.")
    hand_over(world)
    world.deliver()
    assert [c.status for c in world.teams.calls_to("send")] == [412, 201]
    assert len(world.teams.activities(SALES)) == 1


def test_a_missed_deadline_reaches_the_sales_manager_1to1_once(world: World) -> None:
    """The clock takes the deadline; its escalation goes as a digest to the manager's 1:1."""
    lead_id = hand_over(world)
    world.deliver()
    chat = open_chat(world, "U0MANAGER", MANAGER)
    world.ctx.clock.now += timedelta(hours=1, seconds=1)  # type: ignore[attr-defined]
    clock = DeadlineScheduler(world.ctx)
    assert clock.run_once() >= 1
    world.deliver()
    clock.run_once()  # nothing more is due: the escalation is not sent again
    world.deliver()
    (escalation,) = world.teams.activities(chat)
    card = escalation.body["attachments"][0]["content"]
    assert "deadline for Mette Hansen was missed" in card["body"][0]["text"]
    assert "Reassign" in [a["title"] for a in card["actions"]]
    link = next(a["url"] for a in card["actions"] if a["type"] == "Action.OpenUrl")
    _, root = card_of(world, lead_id)
    assert f"/l/message/{SALES.replace(':', '%3A').replace('@', '%40')}/{root}?" in link


def test_an_owner_step_for_an_owner_who_is_away_reaches_the_sales_manager_1to1(
    world: World,
) -> None:
    """The ladder's first step names the owner, who is away: the manager's 1:1 gets it,
    saying whose lead it is and that they are away, with Reassign and Extend."""
    world.ctx.agreement = parse_agreement(
        TEAMS_AGREEMENT.replace("notify: sales_manager}", "notify: owner}")
    )
    card = _to_the_manager_while_the_owner_is_away(world, timedelta(hours=4, seconds=1))
    assert card["fallbackText"].startswith("U0SELLER1 is away. Missed contact deadline")
    texts = [block.get("text", "") for block in card["body"]]
    assert "U0SELLER1 is away, so this comes to you" in texts[1]
    assert {"title": "Owner", "value": "U0SELLER1"} in card["body"][2]["facts"]
    assert [a["title"] for a in card["actions"]][:2] == ["Reassign", "Extend once"]
    assert not [r for r in world.rows() if r.recipient == "U0SELLER1"]


def test_the_reminder_of_an_away_owners_lead_reaches_the_sales_manager_1to1(
    world: World,
) -> None:
    """Half an hour before the contact deadline of a lead whose owner is away, the manager's
    1:1 is told whose lead it is, with Reassign and Extend instead of the owner's buttons."""
    card = _to_the_manager_while_the_owner_is_away(world, timedelta(hours=3, minutes=31))
    assert card["fallbackText"].startswith("U0SELLER1 is away. Reminder: the contact deadline")
    assert "U0SELLER1 is away, so this comes to you" in card["body"][0]["text"]
    assert [a["title"] for a in card["actions"]][:2] == ["Reassign", "Extend once"]
    assert not [r for r in world.rows() if r.recipient == "U0SELLER1"]


def _to_the_manager_while_the_owner_is_away(world: World, later: timedelta) -> dict:
    """A lead claimed by a seller who then went away, the clock `later` on: the one card the
    sales manager's 1:1 got."""
    lead_id = hand_over(world)
    world.deliver()
    ownership.claim(world.ctx, lead_id=lead_id, user="U0SELLER1")
    availability.go_away(world.ctx, user="U0SELLER1", until=None)
    world.deliver()
    chat = open_chat(world, "U0MANAGER", MANAGER)
    world.ctx.clock.now += later  # type: ignore[attr-defined]
    assert DeadlineScheduler(world.ctx).run_once() >= 1
    world.deliver()
    (told,) = world.teams.activities(chat)
    return told.body["attachments"][0]["content"]


def test_an_erased_reply_is_rewritten_in_its_thread(world: World) -> None:
    lead_id = hand_over(world)
    world.deliver()
    _, root = card_of(world, lead_id)
    with transaction(world.ctx.sessions) as session:
        messages.reply_in_thread(
            session=session, lead_id=lead_id, template="released", at=world.ctx.clock(), by="U0X"
        )
    world.deliver()
    (replied,) = [r for r in world.rows() if r.kind == messages.REPLY]
    assert replied.conversation == f"{SALES};messageid={root}"
    with transaction(world.ctx.sessions) as session:
        messages.erase(
            session=session,
            conversation=replied.conversation,
            message_id=replied.message_id or "",
            at=world.ctx.clock(),
        )
    world.deliver()
    _, reply = world.teams.activities(SALES)
    assert reply.updates == 1
    assert "removed on request" in str(reply.body["attachments"][0]["content"])
    assert "released" not in str(reply.body["attachments"][0]["content"])
