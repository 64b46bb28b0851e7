"""Several replicas starting at once on a new database: one migrates, the others find it done."""

import hashlib
import subprocess
import sys
import time
from datetime import UTC, datetime

from alembic import command
from sqlalchemy import create_engine, inspect, text

from storage import leads
from storage.db import _alembic_config, make_engine, migrate, schema_is_current, session_factory

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
