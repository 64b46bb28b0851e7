"""Several replicas starting at once on a new database: one migrates, the others find it done."""

import hashlib
import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

from alembic import command
from sqlalchemy import create_engine, inspect, text
from sqlmodel import select

from bot import reports, wording
from bot.agreement_file import parse_agreement
from storage import leads
from storage.db import _alembic_config, make_engine, migrate, schema_is_current, session_factory
from storage.models import Event, Feedback, Lead, Outbox
from tests.support import AGREEMENT

# Each process imports first, then waits for the same moment to migrate, as replicas that a
# deployment starts together do.
REPLICA = """
import sys, time
from storage.db import make_engine, migrate
url, at = sys.argv[1], float(sys.argv[2])
engine = make_engine(url)
time.sleep(max(0.0, at - time.time()))
migrate(engine)
"""


def test_replicas_starting_together_on_a_new_database_all_start(database_url):
    at = time.time() + 3
    replicas = [
        subprocess.Popen(
            [sys.executable, "-c", REPLICA, database_url, str(at)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [replica.communicate(timeout=60)[0] for replica in replicas]
    failed = [out for replica, out in zip(replicas, outputs, strict=True) if replica.returncode]
    assert failed == []
    engine = make_engine(database_url)
    assert schema_is_current(engine)
    engine.dispose()
    with create_engine(database_url).connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM lead").scalar_one() == 0


def test_leads_stored_before_the_external_key_are_found_by_their_external_id(database_url):
    """0006 fills `external_key` for the leads already there and moves the unique index."""
    engine = make_engine(database_url)
    command.upgrade(_alembic_config(engine), "0003")
    ids = {"a": "hubspot-81723", "b": "ø" * 1000, "c": None}
    with engine.begin() as connection:
        for lead_id, external_id in ids.items():
            connection.execute(
                text(
                    "INSERT INTO lead (id, external_id, name, email, company, activity, qualified,"
                    " reasons, stage, handed_over_by, received_at) VALUES (:id, :external_id,"
                    " 'Mette', 'm@nordlys.dk', 'Nordlys', '[]', true, '[]', 'handed_over', 'api',"
                    " :at)"
                ),
                {"id": lead_id, "external_id": external_id, "at": datetime.now(UTC)},
            )
    migrate(engine)

    with engine.connect() as connection:
        keys = dict(connection.execute(text("SELECT id, external_key FROM lead")).all())
    assert keys == {
        lead_id: hashlib.sha256(external_id.encode()).hexdigest() if external_id else None
        for lead_id, external_id in ids.items()
    }
    with session_factory(engine)() as session:
        for lead_id, external_id in ids.items():
            if external_id:
                found = leads.by_external_id(session=session, external_id=external_id)
                assert found is not None and found.id == lead_id
    indexes = {index["name"]: index for index in inspect(engine).get_indexes("lead")}
    assert "uq_lead_external_id" not in indexes
    assert indexes["uq_lead_external_key"]["unique"]
    assert indexes["uq_lead_external_key"]["column_names"] == ["external_key"]
    engine.dispose()


def test_a_card_posted_before_the_upgrade_keeps_when_it_was_posted(database_url):
    """0005: the lead's `card_at` comes from its card's first delivery (its updates carry the
    same ts later); messages queued before it are urgent."""
    engine = make_engine(database_url)
    command.upgrade(_alembic_config(engine), "0003")
    posted, updated = "2026-11-20 09:00:01", "2026-11-20 10:30:00"
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO lead (id, name, email, company, activity, qualified, reasons, stage,"
                " handed_over_by, received_at, card_channel, card_ts) VALUES ('l1', 'Mette',"
                " 'm@x.dk', 'Nordlys', '[]', true, '[]', 'claimed', 'api', '2026-11-20 09:00:00',"
                " 'C0SALES', '1763629201.000100')"
            )
        )
        for sent_at in (updated, posted):
            connection.execute(
                text(
                    "INSERT INTO outbox (lead_id, kind, payload, created_at, attempts, sent_at, ts)"
                    " VALUES ('l1', 'card', '{}', :at, 1, :at, '1763629201.000100')"
                ),
                {"at": sent_at},
            )
    migrate(engine)
    with engine.connect() as connection:
        card_at = connection.execute(text("SELECT card_at FROM lead")).scalar_one()
        priorities = connection.execute(text("SELECT priority FROM outbox")).scalars().all()
    engine.dispose()
    assert str(card_at).startswith(posted)
    assert priorities == [0, 0]


OLD_REASONS = [
    "country US is not one of DK, SE, NO",
    "country is missing (the definition asks for DK, SE, NO)",
    "industry retail is not one of manufacturing, software",
    "company size 12 is below the minimum of 50 employees",
    "company size 9000 is above the maximum of 5000 employees",
    "company size is missing (the definition asks for 50–5000 employees)",
    "title Chief Llama matches none of the contact roles CIO, IT manager",
    "title (removed on request) matches none of the contact roles",
    "title is missing (the definition asks for CIO, IT manager)",
    "budget is missing (the definition asks for a confirmed budget)",
    "buying stage browsing is not one of problem_aware, ready_to_buy",
    "a reason in words nobody wrote here",
]


def test_reasons_stored_as_sentences_become_codes_with_their_facts(database_url):
    """0008 reads the sentences once, in the wording they were stored in, so the scorecard and
    erasure never have to; the words they show afterwards are the same."""
    engine = make_engine(database_url)
    command.upgrade(_alembic_config(engine), "0007")
    at = datetime(2026, 11, 20, 9, tzinfo=UTC)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO lead (id, name, email, company, activity, qualified, reasons, stage,"
                " handed_over_by, received_at) VALUES ('l1', 'Mette', 'm@x.dk', 'Nordlys', '[]',"
                " false, :reasons, 'unqualified', 'api', :at)"
            ),
            {"reasons": json.dumps(OLD_REASONS), "at": at},
        )
        event = (
            "INSERT INTO event (lead_id, at, actor, kind, data)"
            " VALUES ('l1', :at, :actor, :kind, :data)"
        )
        connection.execute(
            text(event),
            {
                "at": at,
                "actor": "api",
                "kind": "handed_over",
                "data": json.dumps({"qualified": False, "reasons": OLD_REASONS[:1]}),
            },
        )
        connection.execute(
            text(event),
            {
                "at": at,
                "actor": "U1",
                "kind": "feedback",
                "data": json.dumps(
                    {
                        "outcome": "rejected",
                        "reason": "wrong decision-maker",
                        "missed_rules": ["contact role", "country"],
                    }
                ),
            },
        )
        connection.execute(
            text(event),
            {
                "at": at,
                "actor": "U2",
                "kind": "extended",
                "data": json.dumps({"reason": "Team offsite"}),
            },
        )
        connection.execute(
            text(
                "INSERT INTO feedback (lead_id, by, at, outcome, reason, missed_rules) VALUES"
                " ('l1', 'U1', :at, 'rejected', 'wrong decision-maker', :missed)"
            ),
            {"at": at, "missed": json.dumps(["company size", "challenges"])},
        )
        connection.execute(
            text(
                "INSERT INTO outbox (lead_id, kind, channel, payload, created_at, attempts)"
                " VALUES ('l1', 'post', 'C0MKTG', :payload, :at, 0)"
            ),
            {
                "at": at,
                "payload": json.dumps(
                    {"template": "returned_to_nurture", "facts": {"reasons": OLD_REASONS[:2]}}
                ),
            },
        )
    migrate(engine)

    with session_factory(engine)() as session:
        lead = session.get(Lead, "l1")
        events = {event.kind: event.data for event in session.exec(select(Event))}
        (given,) = session.exec(select(Feedback)).all()
        (queued,) = session.exec(select(Outbox)).all()
    assert [reason["code"] for reason in lead.reasons] == [
        "geography",
        "geography",
        "industry",
        "company_size",
        "company_size",
        "company_size",
        "contact_role",
        "contact_role",
        "contact_role",
        "budget",
        "buying_stage",
        "legacy",
    ]
    assert lead.reasons[0]["facts"] == {"country": "US", "allowed": ["DK", "SE", "NO"]}
    assert lead.reasons[3]["facts"] == {"employees": 12, "min": 50, "max": None}
    assert lead.reasons[5]["facts"] == {"employees": None, "min": 50, "max": 5000}
    assert lead.reasons[6]["facts"] == {"title": "Chief Llama", "allowed": ["CIO", "IT manager"]}
    assert wording.reasons(lead.reasons) == OLD_REASONS

    assert events["handed_over"]["reasons"] == lead.reasons[:1]
    assert events["feedback"] == {
        "outcome": "rejected",
        "reason": "wrong_decision_maker",
        "missed_rules": ["contact_role", "geography"],
    }
    assert events["extended"] == {"reason": "Team offsite"}
    assert (given.reason, given.missed_rules) == (
        "wrong_decision_maker",
        ["company_size", "challenges"],
    )
    assert queued.payload["facts"]["reasons"] == lead.reasons[:2]
    with session_factory(engine)() as session:
        card = reports.scorecard(
            session=session, agreement=parse_agreement(AGREEMENT), since=at - timedelta(days=1)
        )
    assert card.unqualified_reasons == {
        "geography": 2,
        "industry": 1,
        "company_size": 3,
        "contact_role": 3,
        "budget": 1,
        "buying_stage": 1,
        "legacy": 1,
    }

    command.downgrade(_alembic_config(engine), "0007")
    with engine.connect() as connection:
        stored = connection.execute(text("SELECT reasons FROM lead")).scalar_one()
        missed = connection.execute(text("SELECT missed_rules FROM feedback")).scalar_one()
    back = json.loads(stored) if isinstance(stored, str) else stored
    assert back == OLD_REASONS
    assert (json.loads(missed) if isinstance(missed, str) else missed) == [
        "company size",
        "challenges",
    ]
    engine.dispose()
