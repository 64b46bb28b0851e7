"""Several replicas starting at once on a new database: one migrates, the others find it done."""

import subprocess
import sys
import time

from alembic import command
from sqlalchemy import create_engine, text

from storage.db import _alembic_config, make_engine, migrate, schema_is_current

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
