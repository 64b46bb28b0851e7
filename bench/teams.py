"""Baton on Teams: a card action's answer with 50 at once, and a deadline to the 1:1 message.

The real app with `platform: teams` (`bot.service.runtime.build`, served by uvicorn), its
Microsoft the local stand-in (`tests.fake_teams`) in a process of its own, as Microsoft is on
machines of its own: Bot Framework keys, Entra tokens, the Bot Connector and Graph, over HTTP
on 127.0.0.1. Clicks are `adaptiveCard/action` invokes signed as the Bot Framework signs them
(RS256, the fake's keys, minted by the stand-in before the clock starts), sent from the
clients' process.
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy import Engine, update
from sqlmodel import col, select

from bench.common import (
    POSTGRES,
    Clients,
    Databases,
    Results,
    Target,
    claim_escalations,
    cpu_seconds,
    hand_over_spaced,
    monotonic_offset,
    processes,
    qualified_bodies,
    seed_waiting,
    wait_healthy,
    wait_until,
)
from bot.actions import ActionId
from bot.agreement_file import parse_agreement
from bot.service.addresses import ADDRESSES
from bot.service.runtime import build, settle
from storage.db import make_engine
from storage.models import Lead
from tests.fake_teams import Call, FakeTeams
from tests.support import serve
from tests.teams_support import (
    MANAGER,
    MARKETING,
    SALES,
    SELLERS,
    TEAMS_AGREEMENT,
    TeamsBaton,
    activity,
    invoke,
    person,
    teams_environment,
)
from tests.teams_support import teams_settings as settings_for

REPLICAS = 2
CLICK_TARGET = Target("p99", "<", 100, "p99 < 100 ms")
LAG_TARGET = Target("p99", "<", 2, "p99 < 2 s")
SECONDS = (
    TEAMS_AGREEMENT.replace("claim_within: 1h", "claim_within: 2s")
    .replace("remind_before: 30m", "remind_before: 2s")
    .replace("    - {after: 2h, notify: ceo}\n", "")
)
"""A claim clock of 2 s, escalated at once to the sales manager; no reminder, no CEO step."""
SPACING = 2.1
"""Seconds between hand-overs: Teams' pace for one conversation is half a message a second
after a burst (`bot.teams.transport.RATE`), and each escalation is a post or an update in the
sales manager's 1:1."""


class TeamsProcess:
    """`FakeTeams` in a process of its own: its HTTP parsing, its keys and the card updates
    it receives during a burst of clicks do not take turns with Baton's for one interpreter
    lock, as in the app's process they would, in the middle of the answers being timed.

    What the bench asks of the stand-in (`sign`, `say`, `install_personal`, `calls`) goes to
    it over a pipe; each read of `calls` fetches only the calls not seen yet. `Call.at` is
    `time.monotonic()`, one clock for every process on Linux.
    """

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipe, theirs = context.Pipe()
        self._process = context.Process(target=_serve_teams, args=(theirs,), daemon=True)
        self._process.start()
        known: dict[str, str] = self._pipe.recv()
        self.url, self.metadata_url, self.service_url = (
            known["url"],
            known["metadata_url"],
            known["service_url"],
        )
        self.app_id, self.password = known["app_id"], known["password"]
        self._calls: list[Call] = []
        self._lock = threading.Lock()

    def _ask(self, name: str, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            self._pipe.send((name, args, kwargs))
            return self._pipe.recv()

    def sign(self, **claims: Any) -> str:
        return self._ask("sign", **claims)

    def signed(self, count: int) -> list[str]:
        """`count` tokens as the Bot Connector sends them, in one exchange."""
        return self._ask("signed", count)

    def say(self, conversation: str, text: str, *, user: str) -> str:
        return self._ask("say", conversation, text, user=user)

    def install_personal(self, aad_object_id: str, account_id: str) -> str:
        return self._ask("install_personal", aad_object_id, account_id)

    @property
    def calls(self) -> list[Call]:
        self._calls += self._ask("calls", len(self._calls))
        return self._calls

    def __enter__(self) -> TeamsProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            self._pipe.send(None)
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()


def _serve_teams(pipe: Any) -> None:
    with FakeTeams() as teams:
        # The sales team Baton is added to, as Teams lists its members and channels.
        teams.rosters[SALES] = [person(user) for user in (MANAGER, *SELLERS)]
        teams.channels[SALES] = [
            {"id": SALES, "name": "General"},
            {"id": MARKETING, "name": "Marketing"},
        ]
        pipe.send(
            {
                "url": teams.url,
                "metadata_url": teams.metadata_url,
                "service_url": teams.service_url,
                "app_id": teams.app_id,
                "password": teams.password,
            }
        )
        while (asked := pipe.recv()) is not None:
            name, args, kwargs = asked
            if name == "calls":
                with teams._lock:
                    pipe.send(teams.calls[args[0] :])
            elif name == "signed":
                pipe.send([teams.sign() for _ in range(args[0])])
            else:
                pipe.send(getattr(teams, name)(*args, **kwargs))


@contextmanager
def running(url: str, teams: TeamsProcess, agreement: str) -> Iterator[TeamsBaton]:
    runtime = build(settings_for(teams, url), parse_agreement(agreement, addresses=ADDRESSES))
    try:
        with serve(runtime) as served:
            settle()
            baton = TeamsBaton(served.runtime, served.url, teams)
            _install(baton.send, teams)
            yield baton
    finally:
        gc.unfreeze()
        runtime.engine.dispose()


def _install(send: Callable[[dict[str, Any]], httpx.Response], teams: TeamsProcess) -> None:
    """Baton added to the sales team, and installed by the sales manager."""
    added = [{"id": f"28:{teams.app_id}"}, *(person(user) for user in SELLERS)]
    team = activity("conversationUpdate", user=MANAGER, membersAdded=added)
    chat = teams.install_personal(MANAGER, person(MANAGER)["id"])
    personal = activity("installationUpdate", user=MANAGER, conversation=chat, personal=True)
    personal["action"] = "add"
    for sent in (team, personal):
        answer = send(sent)
        if answer.status_code != 200:
            raise RuntimeError(f"installing answered {answer.status_code}: {answer.text}")


def _in_teams(url: str, teams: TeamsProcess, lead_ids: list[str]) -> None:
    """The seeded leads' cards, as if Baton had posted them to the Teams channel."""
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            for lead_id in lead_ids:
                posted = teams.say(SALES, "card", user=teams.app_id)
                connection.execute(
                    update(Lead)
                    .where(col(Lead.id) == lead_id)
                    .values(card_conversation=SALES, card_message_id=posted)
                )
    finally:
        engine.dispose()


def _claim(
    teams: TeamsProcess, token: str, user: str, lead_id: str
) -> tuple[str, bytes, dict[str, str]]:
    """A signed Claim on a card, as Teams posts it: (path, body, headers)."""
    value = {
        "action": {"type": "Action.Execute", "verb": ActionId.CLAIM, "data": {"value": lead_id}}
    }
    sent = invoke("adaptiveCard/action", value, user=user)
    sent["serviceUrl"] = teams.service_url
    sent["recipient"] = {"id": f"28:{teams.app_id}", "name": "Baton"}
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    return "/api/messages", json.dumps(sent).encode(), headers


def card_actions(
    results: Results, dbs: Databases, clients: Clients, quick: bool, backend: str
) -> None:
    """Rounds of 1, 10 and 50 Claims at once, each on a lead of its own."""
    rounds = {1: 20, 10: 5, 50: 4} if quick else {1: 100, 10: 20, 50: 20}
    warm = 5
    needed = warm + sum(level * count for level, count in rounds.items())
    with dbs.fresh(backend, "teams_clicks") as url, TeamsProcess() as teams:
        leads = seed_waiting(url, needed, seed=21)
        _in_teams(url, teams, leads)
        remaining = iter(leads)
        with running(url, teams, TEAMS_AGREEMENT) as baton, _own(url) as engine:
            target = str(baton.http.base_url).rstrip("/")
            owned = _owned_in(engine)
            _round(target, clients, teams, [next(remaining) for _ in range(warm)], owned)
            for level, count in rounds.items():
                samples: list[float] = []
                cpu: list[float] = []
                for _ in range(count):
                    batch = [next(remaining) for _ in range(level)]
                    began = _app_cpu()
                    samples += _round(target, clients, teams, batch, owned)
                    cpu.append((_app_cpu() - began) * 1000 / level)
                results.add(
                    "teams",
                    f"Claim on a Teams card → the answer, {level} at once",
                    backend,
                    "ms",
                    samples,
                    target=CLICK_TARGET if level == 50 else None,
                )
                if level == 50:
                    results.add(
                        "teams",
                        f"… CPU of the app's process per click, {level} at once",
                        backend,
                        "ms",
                        cpu,
                    )
    if backend == POSTGRES:
        card_actions_replicas(results, dbs, clients, quick, backend, rounds[50])


def card_actions_replicas(
    results: Results, dbs: Databases, clients: Clients, quick: bool, backend: str, count: int
) -> None:
    """`count` rounds of 50 Claims at once into `REPLICAS` `baton run` processes on one
    database, the clicks of a round dealt to them in turn, as a load balancer would: each
    process answers 25 while the other answers the rest, on a core of its own."""
    level, warm = 50, 2 * REPLICAS * 5
    with dbs.fresh(backend, "teams_replicas") as url, TeamsProcess() as teams:
        leads = seed_waiting(url, warm + level * count, seed=23)
        _in_teams(url, teams, leads)
        remaining = iter(leads)
        with processes(
            url,
            None,
            REPLICAS,
            TEAMS_AGREEMENT,
            environment=teams_environment(teams),  # type: ignore[arg-type]
        ) as batons:
            for baton in batons:
                wait_healthy(baton.port)
            urls = [baton.url for baton in batons]
            with httpx.Client(base_url=urls[0], timeout=30) as http:
                _install(lambda sent: _send(http, teams, sent), teams)
            with _own(url) as engine:
                owned = _owned_in(engine)
                for _ in range(2):  # each replica's first clicks: its keys, its token
                    _round(urls, clients, teams, [next(remaining) for _ in range(warm // 2)], owned)
                samples: list[float] = []
                cpu: list[float] = []
                for _ in range(count):
                    batch = [next(remaining) for _ in range(level)]
                    began = sum(cpu_seconds(baton.popen.pid) for baton in batons)
                    samples += _round(urls, clients, teams, batch, owned)
                    used = sum(cpu_seconds(baton.popen.pid) for baton in batons) - began
                    cpu.append(used * 1000 / level)
    results.add(
        "teams",
        f"Claim on a Teams card → the answer, {level} at once, {REPLICAS} `baton run` replicas",
        backend,
        "ms",
        samples,
        target=CLICK_TARGET,
    )
    results.add(
        "teams",
        f"… CPU of the {REPLICAS} replicas' processes per click, {level} at once",
        backend,
        "ms",
        cpu,
    )


def _send(http: httpx.Client, teams: TeamsProcess, sent: dict[str, Any]) -> httpx.Response:
    """An activity posted as the Bot Connector posts it (as `TeamsBaton.send` does)."""
    sent = {
        **sent,
        "serviceUrl": sent.get("serviceUrl") or teams.service_url,
        "recipient": {"id": f"28:{teams.app_id}", "name": "Baton"},
    }
    headers = {"Authorization": f"Bearer {teams.sign()}"}
    return http.post("/api/messages", json=sent, headers=headers)


@contextmanager
def _own(url: str) -> Iterator[Engine]:
    """The bench's own engine for its reads: through the app's pool, each look would end in
    a rollback on one of the app's connections, and psycopg forgets what it prepared there
    (`storage.db.reading`)."""
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def _owned_in(engine: Engine) -> Callable[[list[str]], int]:
    """How many of the given leads have an owner, read from the database."""

    def owned(batch: list[str]) -> int:
        with engine.connect() as connection:
            rows = connection.execute(
                select(Lead.id).where(col(Lead.id).in_(batch), col(Lead.owner).is_not(None))
            ).all()
        return len(rows)

    return owned


def _app_cpu() -> float:
    """Seconds of CPU the app's threads used (its server, its workers, its courier and
    clock): the process's, less this thread's, which only sends and waits. The Microsoft
    stand-in that the courier's card updates reach is another process, not counted."""
    return time.process_time() - time.thread_time()


def _round(
    url: str | list[str],
    clients: Clients,
    teams: TeamsProcess,
    batch: list[str],
    owned: Callable[[list[str]], int],
) -> list[float]:
    """One round of Claims at once (to several URLs: dealt to them in turn); each answer's
    time, once every lead of the round has its owner."""
    tokens = teams.signed(len(batch))
    requests = [
        _claim(teams, token, SELLERS[n % len(SELLERS)], lead_id)
        for n, (token, lead_id) in enumerate(zip(tokens, batch, strict=True))
    ]
    answers = clients.send(url, requests, concurrency=len(requests), answers=True)
    failed = [(status, body) for _, _, status, body in answers if status != 200]
    if failed:
        raise RuntimeError(f"claims answered {failed[:3]}")
    for _, _, _, body in answers:
        if json.loads(body or "{}").get("type") != "application/vnd.microsoft.card.adaptive":
            raise RuntimeError(f"a claim was not answered with its card: {body}")

    if not wait_until(lambda: owned(batch) == len(batch), timeout=60, every=0.005):
        raise RuntimeError("claims did not settle within 60 s")
    return [(answered - sent) * 1000 for sent, answered, _, _ in answers]


def deadline_to_personal(
    results: Results, dbs: Databases, clients: Clients, quick: bool, backend: str
) -> None:
    """Leads nobody claims, a deadline every `SPACING` s; each one's escalation is timed from
    its claim deadline to the moment the sales manager's 1:1 shows it (its own message, or an
    update of the digest it joined), as the connector received it."""
    count = 10 if quick else 30
    with (
        dbs.fresh(backend, "teams_lag") as url,
        TeamsProcess() as teams,
        running(url, teams, SECONDS) as baton,
    ):
        chat = teams.install_personal(MANAGER, person(MANAGER)["id"])
        offset = monotonic_offset()
        bodies = qualified_bodies(count, seed=22, prefix=f"teams-lag-{backend}")
        names = hand_over_spaced(baton, bodies, every=SPACING)

        def shown() -> dict[str, float]:
            """When each lead first showed in the manager's 1:1, by the connector's clock."""
            found: dict[str, float] = {}
            for call in teams.calls:
                if call.status not in (200, 201) or not call.path.startswith(
                    f"/teams/v3/conversations/{chat}/"
                ):
                    continue
                said = json.dumps(call.body, ensure_ascii=False)
                for lead_id, name in names.items():
                    if lead_id not in found and name in said:
                        found[lead_id] = call.at + offset
            return found

        wait_until(lambda: len(shown()) >= count, timeout=60, every=0.05)
        arrived = shown()
        due, queued = claim_escalations(baton.runtime.ctx, list(names))
    missing = set(names) - set(arrived)
    if missing:
        results.failure(f"teams on {backend}: {len(missing)} of {count} escalations never came")
    results.add(
        "teams",
        "Claim deadline → the sales manager's 1:1 in Teams",
        backend,
        "s",
        [arrived[lead] - due[lead].timestamp() for lead in arrived if lead in due],
        target=LAG_TARGET,
    )
    results.add(
        "teams",
        "… of which 1:1 queued → at the connector (the outbox's part)",
        backend,
        "s",
        [arrived[lead] - at.timestamp() for lead, at in queued.items() if lead in arrived],
    )
