"""0010: Teams-sized ids carried over; conversation references and people kept by upserts."""

from datetime import UTC, datetime, timedelta

from alembic import command
from sqlalchemy import text
from sqlmodel import select

from storage import conversations
from storage.db import _alembic_config, make_engine, migrate, session_factory, transaction
from storage.models import Breach, Feedback, InboundEvent, Lead, Outbox, Person

AT = datetime(2026, 11, 20, 9, tzinfo=UTC)
ENTRA = "6f1c2a3b-8d4e-4f5a-9b6c-7d8e9f0a1b2c"
CHANNEL = "19:4a1b2c3d4e5f4a5b6c7d8e9f0a1b2c3d@thread.tacv2"
PERSONAL = "a:1" + "Xy9_" * 40  # Teams' 1:1 ids run past a hundred characters
ACTIVITY = "1:1" + "f" * 60


def _slack_rows(engine) -> None:
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO lead (id, name, email, company, activity, qualified, reasons, stage,"
                " handed_over_by, received_at, owner, card_platform, card_conversation,"
                " card_message_id) VALUES ('l1', 'Mette', 'm@x.dk', 'Nordlys', '[]', true, '[]',"
                " 'claimed', 'api', :at, 'U0SELLER1', 'slack', 'C0SALES', '1763629201.000100')"
            ),
            {"at": AT},
        )
        connection.execute(text("INSERT INTO person (user_id, role) VALUES ('U0SELLER1', 'sales')"))
        connection.execute(
            text(
                "INSERT INTO event (lead_id, at, actor, kind, data)"
                " VALUES ('l1', :at, 'U0SELLER1', 'claimed', '{}')"
            ),
            {"at": AT},
        )
        connection.execute(
            text(
                "INSERT INTO outbox (lead_id, kind, recipient, payload, created_at, attempts,"
                " platform, conversation, message_id) VALUES ('l1', 'dm', 'U0SELLER1', '{}', :at,"
                " 1, 'slack', 'D0SELLER1', '1763629204.000100')"
            ),
            {"at": AT},
        )
        connection.execute(
            text(
                "INSERT INTO feedback (lead_id, by, at, outcome, missed_rules)"
                " VALUES ('l1', 'U0SELLER1', :at, 'accepted', '[]')"
            ),
            {"at": AT},
        )
        connection.execute(
            text(
                "INSERT INTO inboundevent (platform, event_id, received_at)"
                " VALUES ('slack', 'Ev0SLACK1', :at)"
            ),
            {"at": AT},
        )


def test_slack_rows_are_carried_over_and_teams_ids_fit_after_0010(database_url):
    engine = make_engine(database_url)
    command.upgrade(_alembic_config(engine), "0009")
    _slack_rows(engine)
    migrate(engine)
    sessions = session_factory(engine)
    with sessions() as session:
        lead = session.get(Lead, "l1")
        assert (lead.owner, lead.card_conversation, lead.card_message_id) == (
            "U0SELLER1",
            "C0SALES",
            "1763629201.000100",
        )
        (row,) = session.exec(select(Outbox)).all()
        assert (row.recipient, row.conversation, row.message_id) == (
            "U0SELLER1",
            "D0SELLER1",
            "1763629204.000100",
        )
        assert session.exec(select(Feedback.by)).all() == ["U0SELLER1"]
        assert session.exec(select(Person.user_id)).all() == ["U0SELLER1"]
        assert session.exec(select(InboundEvent.event_id)).all() == ["Ev0SLACK1"]

    # Teams' ids are stored whole, on PostgreSQL too (which refuses what does not fit).
    with transaction(sessions) as session:
        lead = session.get(Lead, "l1")
        lead.owner, lead.card_conversation, lead.card_message_id = ENTRA, CHANNEL, ACTIVITY
        session.add(Person(user_id=ENTRA, role="sales"))
        session.add(Outbox(kind="dm", recipient=PERSONAL, conversation=PERSONAL, created_at=AT))
        session.add(Feedback(lead_id="l1", by=ENTRA, at=AT, outcome="accepted"))
        session.add(InboundEvent(platform="teams", event_id=ACTIVITY * 3, received_at=AT))
    with sessions() as session:
        assert session.get(Lead, "l1").card_conversation == CHANNEL
        assert session.exec(select(Breach)).all() == []

    # Back to 0009: the Slack rows are as they were (the Teams ones are removed first: they
    # no longer fit, and the downgrade refuses rather than cut them).
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM outbox WHERE recipient = :r"), {"r": PERSONAL})
        connection.execute(text("DELETE FROM feedback WHERE by = :b"), {"b": ENTRA})
        connection.execute(text("DELETE FROM person WHERE user_id = :u"), {"u": ENTRA})
        connection.execute(text("DELETE FROM inboundevent WHERE platform = 'teams'"))
        connection.execute(
            text(
                "UPDATE lead SET owner = 'U0SELLER1', card_conversation = 'C0SALES',"
                " card_message_id = '1763629201.000100'"
            )
        )
    command.downgrade(_alembic_config(engine), "0009")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT owner, card_conversation FROM lead")).one() == (
            "U0SELLER1",
            "C0SALES",
        )
        assert connection.execute(text("SELECT count(*) FROM event")).scalar_one() == 1
        assert connection.execute(text("SELECT recipient FROM outbox")).scalar_one() == (
            "U0SELLER1"
        )
    engine.dispose()


def test_what_teams_says_of_a_conversation_is_kept_and_completed(ctx):
    with transaction(ctx.sessions) as session:
        conversations.remember_conversation(
            session,
            "teams",
            CHANNEL,
            at=AT,
            kind="channel",
            service_url="https://smba.example/emea/",
            tenant_id="tenant-1",
            team_id="group-1",
            channel_id=CHANNEL,
        )
    with transaction(ctx.sessions) as session:  # a later message names only the address
        conversations.remember_conversation(
            session, "teams", CHANNEL, at=AT + timedelta(hours=1), service_url="https://new/"
        )
    with ctx.sessions() as session:
        ref = conversations.conversation(session, "teams", f"{CHANNEL};messageid={ACTIVITY}")
        assert (ref.service_url, ref.tenant_id, ref.team_id, ref.channel_id, ref.kind) == (
            "https://new/",
            "tenant-1",
            "group-1",
            CHANNEL,
            "channel",
        )
        assert ref.updated_at == AT + timedelta(hours=1)
        assert conversations.conversation(session, "slack", CHANNEL) is None


def test_people_are_kept_reached_and_found_by_email(ctx):
    other = "0a0b0c0d-0000-4000-8000-000000000001"
    with transaction(ctx.sessions) as session:
        conversations.remember_person(
            session,
            "teams",
            ENTRA,
            at=AT,
            account_id="29:1abc",
            name="Søren Sælger",
            email="Soren@Example.DK",
            tenant_id="tenant-1",
            service_url="https://smba.example/emea/",
        )
        conversations.remember_person(session, "teams", other, at=AT, name="Ulla")
    with ctx.sessions() as session:
        assert conversations.personal_conversation(session, "teams", ENTRA) is None
        assert conversations.unreachable(session, "teams", [other, ENTRA, "x", other]) == [
            other,
            "x",
        ]
    with transaction(ctx.sessions) as session:
        conversations.remember_conversation(
            session,
            "teams",
            PERSONAL,
            at=AT,
            kind="personal",
            service_url="https://smba.example/emea/",
            chat_id="19:chat@unq.gbl.spaces",
        )
        conversations.remember_person(session, "teams", ENTRA, at=AT, conversation_id=PERSONAL)
    with ctx.sessions() as session:
        one = conversations.personal_conversation(session, "teams", ENTRA)
        assert (one.conversation_id, one.service_url, one.chat_id) == (
            PERSONAL,
            "https://smba.example/emea/",
            "19:chat@unq.gbl.spaces",
        )
        kept = conversations.person(session, "teams", ENTRA)
        assert (kept.account_id, kept.email, kept.name) == (
            "29:1abc",
            "soren@example.dk",
            "Søren Sælger",
        )
        assert conversations.by_email(session, "teams", ["SOREN@example.dk", "no@x.dk"]) == {
            "soren@example.dk": ENTRA
        }
        assert conversations.names(session, "teams") == {ENTRA: "Søren Sælger", other: "Ulla"}
