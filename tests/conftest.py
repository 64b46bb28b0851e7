"""Fixtures: a fresh database per test (SQLite, and PostgreSQL when configured), a fake Slack,
and the real app serving on a free port."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from bot.agreement import Agreement
from bot.agreement_file import parse_agreement
from bot.context import Context
from bot.demo.slack_standin import FakeSlack
from bot.service.runtime import Runtime, build
from bot.service.settings import Settings
from storage.db import make_engine, migrate, session_factory
from tests import support
from tests.fake_teams import FakeTeams
from tests.support import AGREEMENT, Baton, serve

POSTGRES = os.environ.get("BATON_TEST_POSTGRES_URL")
BACKENDS = ["sqlite", *(["postgresql"] if POSTGRES else [])]


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of the test's own: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'baton.db'}"
        return
    assert POSTGRES
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in POSTGRES else "?"
    yield f"{POSTGRES}{separator}options=-csearch_path%3D{schema}"
    with admin.connect() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def agreement() -> Agreement:
    return parse_agreement(AGREEMENT)


@pytest.fixture
def ctx(database_url: str, agreement: Agreement) -> Iterator[Context]:
    engine = make_engine(database_url)
    migrate(engine)
    yield Context(agreement=agreement, sessions=session_factory(engine))
    engine.dispose()


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def teams() -> Iterator[FakeTeams]:
    """Microsoft's stand-in (keys, tokens, the Bot Connector, Graph) on 127.0.0.1."""
    with FakeTeams() as fake:
        yield fake


@pytest.fixture
def settings(database_url: str, slack: FakeSlack) -> Settings:
    return support.settings(slack.url, database_url)


@pytest.fixture
def runtime(settings: Settings, agreement: Agreement) -> Iterator[Runtime]:
    runtime = build(settings, agreement)
    yield runtime
    runtime.engine.dispose()


@pytest.fixture
def baton(runtime: Runtime) -> Iterator[Baton]:
    with serve(runtime) as running:
        yield running
