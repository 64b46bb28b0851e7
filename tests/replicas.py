"""`baton run` as separate processes, two on one database, as the README's operations section
runs replicas: for the tests that show two of them share the clocks without telling anyone
anything twice.

Each test gives them a database of its own (the `database_url` fixture: a SQLite file, or a
fresh PostgreSQL schema) and each replica a port of its own. A replica is ready when
`GET /healthz` answers 200 on its port and its own output says it listens there: a port found
free can be taken by another test's server before the replica binds it, and that server's
health is not the replica's. A replica that found its port taken is started again on another.
"""

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.support import INTAKE_TOKEN, SIGNING_SECRET, baton_run

START_UP = 180.0
"""Seconds two replicas may take to start and migrate on a machine busy with the rest of the
suite: a bound on a readiness wait, not a measure of start-up time."""
TRIES = 5
"""Starts on fresh ports for a replica that keeps finding its port taken."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Replica:
    """One `python -m bot run` process; its output (stdout and stderr) in `folder/name.log`."""

    def __init__(self, env: dict[str, str], folder: Path, name: str) -> None:
        self.env = env
        self.folder = folder
        self.name = name
        self.log = folder / f"{name}.log"
        self.port = 0
        self.starts = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.port = free_port()
        self.starts += 1
        with self.log.open("ab") as log:  # the child keeps its own copy of the descriptor
            self.process = subprocess.Popen(
                baton_run(self.port),
                env=self.env,
                cwd=self.folder,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def ready(self) -> bool:
        """Listening on its own port, and healthy there; raises when it stopped for good."""
        assert self.process is not None
        if self.process.poll() is not None:
            if f"port {self.port} is in use" in self.output() and self.starts < TRIES:
                self.start()
                return False
            raise AssertionError(f"{self.name} stopped ({self.process.returncode})\n{self.tail()}")
        if f"Baton listens on {self.url}" not in self.output():
            return False
        try:
            return httpx.get(f"{self.url}/healthz", timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    def terminate(self) -> None:
        """SIGTERM, as an orchestrator stops a replica."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def wait(self) -> None:
        """Until it stopped; killed if it does not stop of itself."""
        if self.process is None:
            return
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def tail(self, lines: int = 30) -> str:
        return "\n".join(
            [f"--- last lines of {self.log.name}:", *self.output().splitlines()[-lines:]]
        )


@contextmanager
def two_replicas(
    agreement: str, *, database_url: str, slack_url: str, folder: Path
) -> Iterator[list[str]]:
    """Two replicas with `agreement` on `database_url` and the fake Slack at `slack_url`,
    both ready; their URLs. They are stopped after the block, whatever happened in it."""
    agreement_file = folder / "agreement.yml"
    agreement_file.write_text(agreement)
    env = {
        **os.environ,
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack_url,
        "DATABASE_URL": database_url,
        "BATON_AGREEMENT": str(agreement_file),
        "BATON_INTAKE_TOKEN": INTAKE_TOKEN,
        "BATON_SLACK_CHANNEL_RATE": "50",  # the cards of a test's leads within its wait
    }
    replicas = [Replica(env, folder, f"baton-{number}") for number in (1, 2)]
    try:
        for replica in replicas:
            replica.start()
        deadline = time.monotonic() + START_UP
        waiting = list(replicas)
        while waiting:
            waiting = [replica for replica in waiting if not replica.ready()]
            if waiting and time.monotonic() > deadline:
                tails = "\n".join(replica.tail() for replica in waiting)
                raise AssertionError(f"not healthy within {START_UP:.0f} s\n{tails}")
            time.sleep(0.1)
        yield [replica.url for replica in replicas]
    finally:
        for replica in replicas:
            replica.terminate()
        for replica in replicas:
            replica.wait()


def hand_over(urls: list[str], bodies: list[dict[str, Any]]) -> None:
    """The leads handed over to the replicas in turn, as a CRM behind a load balancer would."""
    for number, body in enumerate(bodies):
        answer = httpx.post(
            f"{urls[number % len(urls)]}/api/leads",
            json=body,
            headers={"Authorization": f"Bearer {INTAKE_TOKEN}"},
            timeout=30,
        )
        assert answer.status_code == 201, answer.text
