"""`baton demo`: the real Baton, a Slack stand-in and a page that shows them, started together.

One process group: this process serves the stand-in and the page, and starts Baton as a
child with the environment `baton run` reads (`bot.demo.baton`). Ctrl-C reaches all of
them; the child also stops when this process goes, and the temporary folder with the
SQLite database is removed.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import webbrowser
from contextlib import suppress
from pathlib import Path

import uvicorn

from bot.agreement_file import load_agreement
from bot.demo.clock import DemoClock, starting
from bot.demo.slack_standin import FakeSlack
from bot.service.server import CannotListen, Server, listening_socket

AGREEMENT = Path(__file__).resolve().parent / "agreement.example.yml"
READY_WITHIN = 60.0  # seconds Baton may take to start before the demo gives up


class DemoFailed(Exception):
    """The demo cannot start; the message says why and what to do."""


def _baton(folder: Path, standin: FakeSlack, clock: DemoClock, secret: str, token: str):
    """Start Baton as `baton run` would be started, on the demo's clock; its log in `folder`."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SLACK_", "BATON_", "DATABASE_"))
    }
    env |= {
        "SLACK_BOT_TOKEN": "xoxb-demo-" + secrets.token_hex(12),
        "SLACK_SIGNING_SECRET": secret,
        "SLACK_API_URL": standin.url,
        "DATABASE_URL": f"sqlite:///{folder / 'baton.db'}",
        "BATON_AGREEMENT": str(AGREEMENT),
        "BATON_INTAKE_TOKEN": token,
        "PYTHONUNBUFFERED": "1",
    }
    log = (folder / "baton.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "bot.demo.baton", *clock.args()],
        cwd=folder,  # no .env of the visitor's is read
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )


def _wait_listening(child: subprocess.Popen[str], log: Path) -> int:
    """Baton's port, once it serves; or why it did not start."""
    found: list[int] = []

    def read() -> None:
        assert child.stdout is not None
        for line in child.stdout:
            if line.startswith("listening ") and not found:
                found.append(int(line.split()[1]))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + READY_WITHIN
    while not found:
        if child.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(errors="replace").strip().splitlines()[-5:]
            raise DemoFailed("Baton did not start:\n" + "\n".join(tail))
        time.sleep(0.02)
    return found[0]


def _stop(child: subprocess.Popen[str]) -> None:
    if child.poll() is None:
        assert child.stdin is not None
        child.stdin.close()  # Baton stops itself once its stdin closes
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def demo(*, port: int, speed: float, browser: bool, say=print) -> None:
    """Run the demo until Ctrl-C (or SIGTERM); `say` prints a line for the visitor."""
    try:
        page_socket = listening_socket("127.0.0.1", port)
    except CannotListen as error:
        raise DemoFailed(str(error)) from None
    agreement = load_agreement(AGREEMENT)
    clock = starting(agreement, speed)
    folder = Path(tempfile.mkdtemp(prefix="baton-demo-"))
    secret, token = secrets.token_hex(16), secrets.token_hex(16)
    standin = FakeSlack(clock=clock.epoch, strict=True).start()
    standin.pace_posts(per_second=1.0, burst=3)
    child = _baton(folder, standin, clock, secret, token)
    try:
        # Imported while Baton starts, on the other core.
        from bot.demo.page import create_page
        from bot.demo.payloads import Slack

        baton_port = _wait_listening(child, folder / "baton.log")
        slack = Slack(f"http://127.0.0.1:{baton_port}", secret, standin)
        page = create_page(
            agreement=agreement, standin=standin, slack=slack, clock=clock, intake_token=token
        )
        url = f"http://127.0.0.1:{page_socket.getsockname()[1]}"

        def ready() -> None:
            say(f"Baton demo: {url}  (the clock runs {speed:g}x; Ctrl-C stops it)")
            say(f"Baton's log: {folder / 'baton.log'}")
            if browser:
                webbrowser.open(url)

        config = uvicorn.Config(
            page,
            log_level="warning",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        with suppress(KeyboardInterrupt):  # uvicorn raises Ctrl-C again once it has stopped
            Server(config, on_start=ready).run(sockets=[page_socket])
    finally:
        _stop(child)
        standin.stop()
        shutil.rmtree(folder, ignore_errors=True)
    say("Baton demo stopped.")
