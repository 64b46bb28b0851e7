"""Where the time goes when a target is missed: pyinstrument on the work behind the figure.

pyinstrument samples the thread it starts in, so each profile runs the work of the missed
figure in this thread (the same domain calls the app makes), not the whole server. The full
profiles go to bench/out/ as HTML and text; BENCHMARKS.md gets a summary.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench.common import OUT, ROOT, SELLERS, Databases, agreement, seed_waiting, settings
from bot.demo.slack_standin import FakeSlack

BATON = tuple(str(ROOT / name) + "/" for name in ("bot", "handlers", "storage"))


@dataclass
class Profile:
    seconds: float
    lines: list[str]
    file: str


def profile(name: str, work: Callable[[], None]) -> Profile:
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005)
    began = time.perf_counter()
    profiler.start()
    try:
        work()
    finally:
        profiler.stop()
    seconds = time.perf_counter() - began
    OUT.mkdir(parents=True, exist_ok=True)
    html = OUT / f"profile-{name}.html"
    html.write_text(profiler.output_html())
    (OUT / f"profile-{name}.txt").write_text(profiler.output_text(unicode=True, show_all=False))
    return Profile(seconds, summarize(profiler.last_session), str(html.relative_to(ROOT)))


def _where(frame: Any) -> str:
    path = frame.file_path or ""
    if path.startswith(str(ROOT)):
        path = path[len(str(ROOT)) + 1 :]
    elif "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    elif "/lib/python" in path:
        path = path.split("/lib/python", 1)[1].split("/", 1)[-1]
    return f"{path}:{frame.function}" if path else frame.function


COMPONENTS = {
    "database driver (and waiting on the server)": (
        "sqlite3", "_sqlite3", "psycopg", "psycopg_binary",
    ),
    "SQLAlchemy": ("sqlalchemy", "sqlmodel", "alembic"),
    "HTTP to Slack": (
        "slack_sdk", "http", "socket", "urllib", "ssl", "email", "selectors",
    ),
    "jinja2": ("jinja2", "markupsafe"),
    "JSON": ("json",),
    "Bolt": ("slack_bolt",),
    "validation": (
        "pydantic", "pydantic_core", "email_validator", "phonenumbers", "idna", "dns",
    ),
    "web server": (
        "uvicorn", "starlette", "fastapi", "anyio", "h11", "httptools",
    ),
    "logging and metrics": ("logging", "prometheus_client"),
    "threads": ("threading", "queue", "concurrent"),
}  # fmt: skip
_COMPONENT = {package: name for name, packages in COMPONENTS.items() for package in packages}
_DRIVER = ("Cursor.", "Connection.commit", "Connection.rollback", "Connection.execute")


def _package(frame: Any, caller: str) -> str:
    """The component a frame belongs to; built-in (C) calls belong to their caller's."""
    path = frame.file_path or ""
    if path.startswith(BATON):
        return "Baton's own code"
    if path.startswith("<"):
        function = frame.function or ""
        if function.startswith(_DRIVER):
            return _COMPONENT["sqlite3"]
        if function.startswith("socket."):
            return _COMPONENT["socket"]
        return caller
    if "site-packages/" in path:
        package = path.split("site-packages/", 1)[1].split("/", 1)[0]
    elif "/lib/python" in path:
        package = path.split("/lib/python", 1)[1].split("/", 2)[1]
    else:
        package = Path(path).stem
    package = package.removesuffix(".py").split(".", 1)[0]
    return _COMPONENT.get(package, package)


def summarize(session: Any) -> list[str]:
    """Where the time goes: by component, and by the Baton function that called into it."""
    root = session.root_frame()
    if root is None or not root.time:
        return ["(no samples)"]
    total = root.time
    by_component: dict[str, float] = {}
    by_caller: dict[str, float] = {}
    components_of: dict[str, dict[str, float]] = {}

    def walk(frame: Any, owner: str | None, caller: str) -> None:
        if (frame.file_path or "").startswith(BATON):
            owner = _where(frame)
        component = _package(frame, caller)
        own = frame.time - sum(c.time for c in frame.children if not c.is_synthetic)
        if own > 0 and not frame.is_synthetic:
            by_component[component] = by_component.get(component, 0.0) + own
            if owner:
                by_caller[owner] = by_caller.get(owner, 0.0) + own
                mix = components_of.setdefault(owner, {})
                mix[component] = mix.get(component, 0.0) + own
        for child in frame.children:
            if not child.is_synthetic:
                walk(child, owner, component)

    walk(root, None, "Python")
    components = [
        (name, share)
        for name, share in sorted(by_component.items(), key=lambda item: -item[1])[:7]
        if share / total >= 0.01
    ]
    callers = [
        (name, share)
        for name, share in sorted(by_caller.items(), key=lambda item: -item[1])[:5]
        if share / total >= 0.01
    ]

    def mix(owner: str) -> str:
        parts = sorted(components_of[owner].items(), key=lambda item: -item[1])[:2]
        return ", ".join(f"{name} {share / by_caller[owner]:.0%}" for name, share in parts)

    return [
        "By component: " + ", ".join(f"{name} {share / total:.0%}" for name, share in components),
        "By the Baton function it was spent under (the function and the library calls it "
        "makes): "
        + "; ".join(f"`{name}` {share / total:.0%} ({mix(name)})" for name, share in callers),
    ]


# the work behind each figure -------------------------------------------------------------


@contextmanager
def _runtime(url: str, *, unpaced: bool = True):
    """The app's runtime with its workers stopped, so this thread does their work."""
    from bench.common import pace
    from bench.intake import UNPACED
    from bot.service.runtime import build
    from storage.db import migrate

    with FakeSlack() as slack, pace(UNPACED if unpaced else None):
        runtime = build(settings(url, slack), agreement())
        migrate(runtime.engine)
        try:
            yield runtime, slack
        finally:
            runtime.engine.dispose()


def clicks(dbs: Databases, backend: str, count: int = 200) -> tuple[Profile, float]:
    """Claim clicks end to end in one thread: signature, Bolt, the claim, the card update."""
    from slack_bolt import App, BoltRequest
    from slack_bolt.authorization import AuthorizeResult

    import handlers
    from tests.support import SIGNING_SECRET, block_action, slack_headers

    with dbs.fresh(backend, "profile_clicks") as url:
        leads = seed_waiting(url, count, seed=4)
        with _runtime(url) as (runtime, _slack):

            def authorize(enterprise_id, team_id) -> AuthorizeResult:
                return AuthorizeResult(
                    enterprise_id=enterprise_id, team_id=team_id, bot_token="xoxb-bench"
                )

            bolt = App(  # as bot.slack.app.slack_app builds it, with the listener in this thread
                signing_secret=SIGNING_SECRET,
                client=runtime.client,
                authorize=authorize,
                process_before_response=True,
                ignoring_self_events_enabled=False,
            )
            # What the workers do after the answer, done here instead, where the profiler sees it.
            runtime.later = lambda work, *args: work(*args)
            handlers.register(bolt, runtime)
            requests = []
            for number, lead in enumerate(leads):
                payload = block_action(
                    user=SELLERS[number % 50], action_id="baton.claim", value=lead
                )
                body = urlencode({"payload": json.dumps(payload)})
                requests.append((body, slack_headers(body)))

            def work() -> None:
                for body, headers in requests:
                    bolt.dispatch(BoltRequest(body=body, headers=headers))
                    runtime.courier.run_once()

            result = profile(f"clicks-{backend}", work)
    return result, result.seconds / count * 1000


def hand_overs(dbs: Databases, backend: str, count: int = 300) -> tuple[Profile, float, float]:
    """Hand-overs as the intake endpoint makes them, then their cards delivered."""
    from bench.intake import _bodies
    from bot import intake
    from bot.schemas import LeadIn

    bodies = _bodies(count, seed="profile")
    with dbs.fresh(backend, "profile_intake") as url, _runtime(url) as (runtime, _slack):
        timings = {}

        def work() -> None:
            began = time.perf_counter()
            for body in bodies:
                intake.hand_over(runtime.ctx, LeadIn.model_validate(body), by="api")
            timings["intake"] = time.perf_counter() - began
            began = time.perf_counter()
            while runtime.courier.run_once():
                pass
            timings["deliver"] = time.perf_counter() - began

        result = profile(f"intake-{backend}", work)
    return result, timings["intake"] / count * 1000, timings["deliver"] / count * 1000


def queries(backend: str, url: str, count: int = 100) -> tuple[Profile, list[str]]:
    """The clock's two queries, and the plans the database picks for them."""
    from sqlalchemy import text
    from sqlmodel import col, select

    from bench.scale import full_batch
    from storage import deadlines
    from storage.db import make_engine, session_factory
    from storage.models import Deadline

    engine = make_engine(url)
    sessions = session_factory(engine)
    with sessions() as session:
        now = full_batch(session) or datetime.now(UTC)

    def work() -> None:
        for _ in range(count):
            with sessions() as session:
                session.begin()
                deadlines.due(session=session, now=now, limit=200)
                session.rollback()
            with sessions() as session:
                deadlines.earliest(session=session)

    result = profile(f"clock-{backend}", work)
    plans = []
    query = (
        select(Deadline)
        .where(col(Deadline.next_at) <= now)
        .order_by(col(Deadline.next_at))
        .limit(200)
    )
    compiled = query.compile(engine, compile_kwargs={"literal_binds": True})
    explain = "EXPLAIN QUERY PLAN " if backend == "SQLite" else "EXPLAIN "
    try:
        with engine.connect() as connection:
            rows = connection.execute(text(explain + str(compiled))).all()
        plans = [" ".join(str(value) for value in row) for row in rows]
    except Exception as error:
        plans = [f"(no plan: {type(error).__name__})"]
    engine.dispose()
    return result, plans


def report_call(name: str, function: Callable[..., Any], backend: str, url: str) -> Profile:
    from datetime import timedelta

    from bench.common import business_agreement
    from storage.db import make_engine, session_factory

    engine = make_engine(url)
    sessions = session_factory(engine)
    since = datetime.now(UTC) - timedelta(days=7)
    agreement = business_agreement()

    def work() -> None:
        with sessions() as session:
            function(session=session, agreement=agreement, since=since)

    try:
        return profile(f"stats-{name}-{backend}", work)
    finally:
        engine.dispose()
