"""Alembic environment: runs on the engine Baton hands over, or on DATABASE_URL."""

import os

from alembic import context
from sqlmodel import SQLModel

import storage.models  # noqa: F401 - registers the tables on SQLModel.metadata
from storage.db import make_engine

target_metadata = SQLModel.metadata


def run() -> None:
    config = context.config
    engine = config.attributes.get("engine") or make_engine(
        os.environ.get("DATABASE_URL", "sqlite:///baton.db")
    )
    with engine.connect() as connection:
        sqlite = engine.dialect.name == "sqlite"
        if sqlite:
            # A migration that rebuilds a table others refer to (Alembic's batch mode) drops it
            # and renames its copy in its place; SQLite would refuse the drop, or cascade it.
            # Its foreign keys can only be switched off outside a transaction, so before it
            # begins; they are checked once the schema is whole, and switched on again.
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
        if engine.dialect.name == "postgresql":
            # Several replicas may start at once: one migrates, the others wait for it. The
            # lock ends with the transaction, committed or not, so a failed start can't keep it.
            # It is the schema's: Batons on other schemas of the server do not wait for it.
            connection.exec_driver_sql(
                "SELECT pg_advisory_xact_lock(74126, hashtext(coalesce(current_schema(), '')))"
            )
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=engine.dialect.name == "sqlite",
        )
        try:
            with context.begin_transaction():
                context.run_migrations()
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if broken:
                        raise RuntimeError(f"a migration left rows that refer to nothing: {broken}")
            connection.commit()  # the lock goes with it; a waiting replica sees the new schema
        finally:
            if sqlite:  # the connection goes back to the pool as it came
                connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")


run()
