"""Several replicas starting at once on a new database: one migrates, the others find it done."""

import subprocess
import sys
import time

from sqlalchemy import create_engine

from storage.db import make_engine, schema_is_current

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
