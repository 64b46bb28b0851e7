"""A real `baton run` process as an operator starts it: a few lines, then "Baton listens" once
the port answers, and a log that stays quiet while the clock works."""

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from bot.demo.slack_standin import FakeSlack
from tests import support
from tests.support import AGREEMENT, INTAKE_TOKEN, SIGNING_SECRET, lead

pytestmark = pytest.mark.slow

# A claim clock of 2 s escalated at once: a hand-over makes the clock arm, wake and escalate.
SECONDS = AGREEMENT.replace("claim_within: 1h", "claim_within: 2s").replace(
    "remind_before: 30m", "remind_before: 1s"
)
HANDFUL = 3


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_start_up_is_a_few_lines_and_the_clock_is_quiet(
    database_url: str, slack: FakeSlack, tmp_path: Path
):
    agreement = tmp_path / "agreement.yml"
    agreement.write_text(SECONDS, encoding="utf-8")
    env = {
        **os.environ,
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_APP_TOKEN": "",
        "SLACK_API_URL": slack.url,
        "DATABASE_URL": database_url,
        "BATON_AGREEMENT": str(agreement),
        "BATON_INTAKE_TOKEN": INTAKE_TOKEN,
    }
    port = free_port()
    log = tmp_path / "stderr.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "run", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    try:
        assert process.stdout is not None
        said = process.stdout.readline()
        assert said.startswith(f"Baton listens on http://127.0.0.1:{port}"), said + log.read_text()
        # Said once the socket serves: the very next request is answered.
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code in (200, 503)
        started = log.read_text().splitlines()
        assert len(started) <= HANDFUL, started
        assert not [line for line in started if "token" in line.lower()], started

        answer = httpx.post(
            f"http://127.0.0.1:{port}/api/leads",
            json=lead(),
            headers={"Authorization": f"Bearer {INTAKE_TOKEN}"},
            timeout=10,
        )
        assert answer.status_code == 201
        # The clock armed for the deadline, woke for it and escalated it: its jobs ran.
        slack.wait_for("chat.postMessage", where=lambda c: c.params.get("channel") == "U0MANAGER")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    records = [json.loads(line) for line in log.read_text().splitlines()]
    chatter = [r for r in records if r["logger"].startswith("apscheduler") and r["level"] == "INFO"]
    assert chatter == []
    assert all(not r["logger"].startswith(("alembic", "uvicorn")) for r in records), records


def test_a_port_in_use_is_one_line_and_nothing_listens(tmp_path: Path, slack: FakeSlack):
    agreement = tmp_path / "agreement.yml"
    agreement.write_text(AGREEMENT, encoding="utf-8")
    env = {
        **os.environ,
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.url,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'b.db'}",
        "BATON_AGREEMENT": str(agreement),
    }
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = support.run_bot(
            "run", "--host", "127.0.0.1", "--port", str(port), env=env, cwd=tmp_path
        )
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "listens" not in done.stdout
    assert done.stderr.strip().splitlines() == [
        f"baton: port {port} is in use on 127.0.0.1: stop what listens there, or pass --port"
    ]


def test_a_process_on_slack_does_not_import_microsofts_teams_sdk(tmp_path: Path):
    """Importing Microsoft's Teams SDK takes about half a second and 28 MB; a process on Slack
    (the app, its routes, every command) has no use for it."""
    database = tmp_path / "baton.db"
    built = f"""
import sys
from bot.__main__ import main
from bot.agreement_file import parse_agreement
from bot.service.addresses import ADDRESSES
from bot.service.runtime import build
from bot.service.web import create_app
from tests.support import AGREEMENT, settings

runtime = build(
    settings("http://127.0.0.1:9", "sqlite:///{database}"),
    parse_agreement(AGREEMENT, addresses=ADDRESSES),
)
create_app(runtime)
runtime.engine.dispose()
print(sorted(name for name in sys.modules if name.startswith("microsoft_teams")))
"""
    done = subprocess.run(
        [sys.executable, "-c", built],
        cwd=Path(__file__).parent.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
