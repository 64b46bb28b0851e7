"""Real `baton run` processes against a fake Slack that fails, and a database that goes away.

Each test prints its figures (run with -s): how many hand-overs were sent and acknowledged,
how many cards were posted and doubled, and the delivery rate reached. The processes run
with BATON_SLACK_CHANNEL_RATE=50 so that hundreds of cards take seconds, not minutes; the pace
itself, at Slack's one message a second, is tested in test_outbox.py.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.demo.slack_standin import Call, FakeSlack
from tests.private_postgres import PrivatePostgres
from tests.support import AGREEMENT, INTAKE_TOKEN, SIGNING_SECRET, lead

pytestmark = pytest.mark.slow

POSTGRES = os.environ.get("BATON_TEST_POSTGRES_URL")
RATE = 50.0  # messages a second per channel in these tests; Slack's is 1
CARD_TEXT = re.compile(r"Lead: (Resilient \d{3}),")


class Baton:
    """One `baton run` process; its output goes to a file shown when a test fails."""

    def __init__(self, env: dict[str, str], cwd: Path, port: int, name: str) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = cwd / f"{name}.log"
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot", "run", "--host", "127.0.0.1", "--port", str(port)],
                env=env,
                cwd=cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def health(self) -> int | None:
        try:
            return httpx.get(f"{self.url}/healthz", timeout=5).status_code
        except httpx.TransportError:
            return None

    def wait_for_health(self, status: int = 200, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.health() == status:
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"/healthz never answered {status}\n{self.tail()}")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace").splitlines()
        return "\n".join([f"--- last lines of {self.log.name}:", *text[-lines:]])


@pytest.fixture
def environment(database_url: str, slack: FakeSlack, tmp_path: Path) -> dict[str, str]:
    agreement = tmp_path / "agreement.yml"
    agreement.write_text(AGREEMENT)
    return {
        **os.environ,
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.url,
        "DATABASE_URL": database_url,
        "BATON_AGREEMENT": str(agreement),
        "BATON_INTAKE_TOKEN": INTAKE_TOKEN,
        "BATON_SLACK_CHANNEL_RATE": str(RATE),
    }


@pytest.fixture
def start(environment: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., Baton]]:
    """Start `baton run` processes; whatever is still running at the end is stopped."""
    started: list[Baton] = []

    def run(port: int | None = None) -> Baton:
        baton = Baton(environment, tmp_path, port or free_port(), f"baton-{len(started) + 1}")
        started.append(baton)
        baton.wait_for_health()
        return baton

    yield run
    for baton in started:
        baton.stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def body(number: int) -> dict[str, Any]:
    """A qualified lead a client can send again safely: `external_id` makes it idempotent."""
    return lead(
        external_id=f"resilience-{number:03d}",
        name=f"Resilient {number:03d}",
        email=f"resilient{number}@nordlys.dk",
    )


def hand_over(url: str, number: int, http: httpx.Client) -> int | None:
    """The status Baton answered, or None when the request never got an answer."""
    try:
        return http.post(
            f"{url}/api/leads",
            json=body(number),
            headers={"Authorization": f"Bearer {INTAKE_TOKEN}"},
        ).status_code
    except httpx.TransportError:
        return None


def burst(
    urls: list[str],
    numbers: list[int],
    on_answer: Callable[[int, int | None], None] | None = None,
) -> dict[int, int | None]:
    """Send hand-overs concurrently, as a CRM export or a form under load would."""
    answers: dict[int, int | None] = {}
    with httpx.Client(timeout=30) as http, ThreadPoolExecutor(max_workers=16) as pool:

        def send(number: int) -> None:
            answers[number] = hand_over(urls[number % len(urls)], number, http)
            if on_answer:
                on_answer(number, answers[number])

        list(pool.map(send, numbers))
    return answers


def cards(slack: FakeSlack) -> list[Call]:
    """Lead cards as Slack accepted them: top-level posts to the sales channel, in order."""
    return [
        c
        for c in slack.calls_to("chat.postMessage")
        if c.params.get("channel") == "C0SALES" and "thread_ts" not in c.params
    ]


def in_channel(slack: FakeSlack) -> list[str]:
    """The leads whose cards are in the sales channel, oldest first, as the team sees them.

    Read from what Slack holds, not from what it answered: a card whose answer was lost
    counts as posted.
    """
    names = (CARD_TEXT.match(m.get("text", "")) for m in slack.messages("C0SALES"))
    return [found.group(1) for found in names if found]


def posted(slack: FakeSlack) -> Counter[str]:
    return Counter(in_channel(slack))


def wait_for_cards(slack: FakeSlack, numbers: list[int], timeout: float, *logs: Baton) -> None:
    """Until every lead has its card, then long enough for a duplicate to show up."""
    wanted = {body(n)["name"] for n in numbers}
    deadline = time.monotonic() + timeout
    while not wanted <= set(posted(slack)):
        if time.monotonic() > deadline:
            missing = sorted(wanted - set(posted(slack)))
            tails = "\n".join(b.tail() for b in logs)
            raise AssertionError(f"{len(missing)} card(s) never posted: {missing[:10]}\n{tails}")
        time.sleep(0.1)
    time.sleep(2)


def report(title: str, sent: int, acknowledged: int, slack: FakeSlack, **more: Any) -> None:
    """One line of figures for the closing note (visible with -s)."""
    counted = posted(slack)
    duplicated = sum(n - 1 for n in counted.values() if n > 1)
    extra = "".join(f", {key.replace('_', ' ')} {value}" for key, value in more.items())
    times = [c.at for c in cards(slack)]
    rate = ""
    if len(times) >= 10:
        rate = (
            f"; cards went out at {(len(times) - 1) / (times[-1] - times[0]):.1f} msg/s "
            f"overall (paced at {RATE:g}/s per channel here; Slack allows 1)"
        )
    print(
        f"\n{title}: sent {sent}, acknowledged {acknowledged}, posted {len(counted)}, "
        f"duplicated {duplicated}{extra}{rate}"
    )


def metrics(baton: Baton) -> str:
    """The process's Prometheus text, for figures only it knows (what it found in Slack)."""
    return httpx.get(f"{baton.url}/metrics", timeout=5).text


def test_a_kill_mid_burst_loses_no_acknowledged_lead_and_posts_no_card_twice(
    slack: FakeSlack, start: Callable[..., Baton]
):
    """Nothing acknowledged is lost, and no card is posted twice, not even the one in flight.

    Slack has no idempotency key for chat.postMessage: a process killed after Slack took a
    card and before the database recorded it leaves the card's row to be retried once its
    lease runs out. The retry finds the card in the channel by its metadata and records it.
    """
    numbers = list(range(200))
    first = start()
    created: list[int] = []
    done = threading.Event()

    def kill_mid_burst() -> None:
        """SIGKILL while hand-overs still come in and cards go out, at no particular call."""
        while not done.is_set() and (len(created) < 100 or not cards(slack)):
            time.sleep(0.002)
        first.kill()

    killer = threading.Thread(target=kill_mid_burst)
    killer.start()
    try:
        answers = burst([first.url], numbers, lambda n, status: status == 201 and created.append(n))
    finally:
        done.set()
        killer.join()
    acknowledged = [n for n, status in answers.items() if status == 201]

    restarted_at = time.monotonic()  # every call Slack saw before this came from the first
    second = start(first.port)  # same database, same port: clients simply send again
    before = [c for c in cards(slack) if c.at < restarted_at]
    in_flight = CARD_TEXT.match(before[-1].params["text"]).group(1) if before else None
    unanswered = [n for n, status in answers.items() if status != 201]
    again = burst([second.url], unanswered)
    assert all(status in (200, 201) for status in again.values()), again
    wait_for_cards(slack, numbers, 60, first, second)

    counted = posted(slack)
    doubled = [name for name, n in counted.items() if n > 1]
    found = re.search(r"^baton_outbox_found_in_slack_total (\S+)$", metrics(second), re.M)
    report(
        "kill -9 mid-burst",
        len(numbers),
        len(acknowledged),
        slack,
        cards_before_the_kill=len(before),
        sent_again_after_restart=len(unanswered),
        in_flight_at_the_kill=in_flight,
        looked_up_after_restart=len(slack.calls_to("conversations.history")),
        found_already_posted=int(float(found.group(1))) if found else 0,
    )
    assert {body(n)["name"] for n in numbers} <= set(counted)  # nothing acknowledged is lost
    assert doubled == [], f"posted twice: {doubled}; in flight at the kill: {in_flight}"


def test_slack_down_for_thirty_seconds_delays_cards_but_loses_none(
    slack: FakeSlack, start: Callable[..., Baton]
):
    numbers = list(range(30))
    baton = start()
    slack.outage()  # every method answers 503 until recover() below
    answers = burst([baton.url], numbers)
    assert set(answers.values()) == {201}
    time.sleep(30)
    failed = len(slack.calls)
    slack.recover()
    healed = time.monotonic()
    wait_for_cards(slack, numbers, 60, baton)
    first_card = cards(slack)[0].at
    report(
        "Slack down for 30 s",
        len(numbers),
        len(answers),
        slack,
        calls_refused_during_outage=failed,
        first_card_after_recovery=f"{first_card - healed:.1f}s",
    )
    assert failed <= 32, "the outage was hammered: more than one try a second"
    assert "baton_outbox_dead 0.0" in metrics(baton)  # waiting for Slack kills no message
    assert all(n == 1 for n in posted(slack).values())
    assert len(posted(slack)) == len(numbers)


def test_a_burst_of_1000_hand_overs_is_accepted_and_reaches_the_channel_complete_and_in_order(
    slack: FakeSlack, start: Callable[..., Baton]
):
    """A CRM export of 1,000 leads, handed over one after another from one client.

    Sent one at a time, each 201 comes before the next request, so the order of the 201s is
    well defined: the cards must reach the channel in that order, each once, at the pace.
    """
    numbers = list(range(1000))
    baton = start()
    accepted: list[int] = []
    began = time.monotonic()
    with httpx.Client(timeout=30) as http:
        for number in numbers:
            status = hand_over(baton.url, number, http)
            assert status == 201, (number, status)
            accepted.append(number)
    took = time.monotonic() - began
    wait_for_cards(slack, numbers, 180, baton)

    times = [c.at for c in cards(slack)]
    report(
        "1,000 hand-overs in a row",
        len(numbers),
        len(accepted),
        slack,
        all_accepted_in=f"{took:.1f}s ({len(accepted) / took:.0f}/s)",
        last_card_after_last_201=f"{times[-1] - (began + took):.1f}s",
    )
    assert in_channel(slack) == [body(n)["name"] for n in accepted]  # complete, once, in order
    assert times[-1] - times[0] >= (len(times) - 3) / RATE * 0.95, "faster than the pace"
    assert not slack.calls_to("conversations.history", include_failed=True)  # no retries


def test_a_429_storm_is_waited_out_with_nothing_lost_or_doubled(
    slack: FakeSlack, start: Callable[..., Baton]
):
    numbers = list(range(20))
    baton = start()
    slack.rate_limit("chat.postMessage", retry_after=1, times=20)
    answers = burst([baton.url], numbers)
    assert set(answers.values()) == {201}
    wait_for_cards(slack, numbers, 90, baton)

    calls = slack.calls_to("chat.postMessage", include_failed=True)
    limited = [c for c in calls if c.answered == "429"]
    report("429 storm", len(numbers), len(answers), slack, answered_429=len(limited))
    assert len(limited) == 20
    for before, after in pairwise(calls):
        if before.answered == "429":
            assert after.at - before.at >= 0.9, "Retry-After: 1 was not waited out"
    assert all(n == 1 for n in posted(slack).values())
    assert len(posted(slack)) == len(numbers)


def test_two_processes_on_one_database_post_each_card_once(
    slack: FakeSlack, start: Callable[..., Baton]
):
    numbers = list(range(200))
    twins = [start(), start()]
    answers = burst([b.url for b in twins], numbers)
    assert set(answers.values()) == {201}
    wait_for_cards(slack, numbers, 60, *twins)
    report("two replicas", len(numbers), len(answers), slack)
    assert all(n == 1 for n in posted(slack).values())
    assert len(posted(slack)) == len(numbers)


if POSTGRES:  # the PostgreSQL tests are on: run this one on a server of its own

    @pytest.fixture
    def own_postgres() -> Iterator[PrivatePostgres]:
        """A server to stop while Baton runs, without stopping anyone else's."""
        server = PrivatePostgres()
        try:
            server.start()
            yield server
        finally:
            server.remove()

    @pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
    def test_baton_rides_out_the_database_going_away_without_a_restart(
        slack: FakeSlack,
        start: Callable[..., Baton],
        environment: dict[str, str],
        own_postgres: PrivatePostgres,
    ):
        environment["DATABASE_URL"] = own_postgres.url
        baton = start()
        with httpx.Client(timeout=30) as http:
            assert hand_over(baton.url, 1, http) == 201
            wait_for_cards(slack, [1], 10, baton)
            own_postgres.stop()
            try:
                baton.wait_for_health(503, timeout=15)
                problems = httpx.get(f"{baton.url}/healthz", timeout=5).json()["problems"]
                assert any("database" in problem for problem in problems), problems
                during = hand_over(baton.url, 2, http)
            finally:
                own_postgres.start()
            back = time.monotonic()
            baton.wait_for_health(200, timeout=60)
            healthy_after = time.monotonic() - back
            after = hand_over(baton.url, 3, http)
            assert after == 201
            wait_for_cards(slack, [3], 30, baton)
            if during in (200, 201):  # acknowledged while the database was down? then posted
                wait_for_cards(slack, [2], 30, baton)
        report(
            "database away and back",
            3,
            sum(1 for s in (201, during, after) if s in (200, 201)),
            slack,
            hand_over_while_down_answered=during,
            healthy_again_after=f"{healthy_after:.1f}s",
        )
        assert all(n == 1 for n in posted(slack).values())
        assert baton.process.poll() is None  # the same process all along
