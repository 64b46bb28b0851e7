"""The demo's Baton process: `baton run`'s own parts, on the demo's sped-up clock.

`baton demo` starts this as a child (`python -m bot.demo.baton`) with the environment
`baton run` reads: a bot token, a signing secret, the stand-in's `SLACK_API_URL`, SQLite in
the demo's folder and the example agreement. What differs is the clock, and a sweep each
second, since a second here is a minute (at `--speed 60`) of the agreement's time.
It prints `listening <port>` once it serves, and stops when its parent goes (its stdin
closes), so no Baton outlives the demo.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from datetime import datetime, timedelta

import uvicorn
from apscheduler.triggers.cron import CronTrigger

from bot.agreement_file import load_agreement
from bot.demo.clock import DemoClock
from bot.scheduler import SWEEPS
from bot.service import logs
from bot.service.runtime import Runtime, build, settle
from bot.service.server import Server, listening_socket
from bot.service.settings import load_settings
from bot.service.web import create_app

SWEEP_EVERY = timedelta(seconds=1)
WEEKLY = "baton.demo.weekly"


def _stop_with_parent() -> None:
    """Read stdin until the parent closes it (it stopped, or died), then stop like Ctrl-C."""
    sys.stdin.read()
    os.kill(os.getpid(), signal.SIGINT)


def _weekly_on_demo_time(runtime: Runtime, clock: DemoClock) -> None:
    """The scorecard goes out when the demo's week turns, not the real one's.

    Baton's own job fires at the agreement's `reports.weekly` in real time; the demo's week
    passes faster, so this looks each second whether the demo's clock has passed that moment
    (the first one at or after the demo's start: a demo that starts on Monday at 08:00 shows
    last week's scorecard at once, as Baton would send it then).
    """
    weekly = runtime.agreement.reports.weekly if runtime.agreement.reports else None
    if weekly is None:
        return
    day, at = weekly.split()
    hour, minute = at.split(":")
    trigger = CronTrigger(day_of_week=day, hour=hour, minute=minute, timezone=runtime.agreement.tz)
    due = trigger.get_next_fire_time(None, clock.start)  # a demo starting then sends it

    def look() -> None:
        nonlocal due
        if due is not None and clock.now() >= due:
            runtime.scheduler.send_scorecard(due)
            due = trigger.get_next_fire_time(due, clock.now())

    runtime.scheduler.jobs.add_job(
        look, "interval", seconds=1, id=WEEKLY, executor=SWEEPS, replace_existing=True
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bot.demo.baton")
    parser.add_argument("--start", type=datetime.fromisoformat, required=True)
    parser.add_argument("--since", type=float, required=True)
    parser.add_argument("--speed", type=float, required=True)
    args = parser.parse_args(argv)
    clock = DemoClock(start=args.start, since=args.since, speed=args.speed)

    settings = load_settings(slack=True)
    logs.setup(
        level=logging.INFO,
        secrets=[settings.slack_bot_token, settings.slack_signing_secret],
    )
    listening = listening_socket("127.0.0.1", 0)
    runtime = build(settings, load_agreement(settings.baton_agreement), clock=clock.now)
    runtime.scheduler.sweep_every = SWEEP_EVERY
    runtime.start()
    _weekly_on_demo_time(runtime, clock)
    app = create_app(runtime)
    port = listening.getsockname()[1]

    def listens() -> None:
        print(f"listening {port}", flush=True)

    threading.Thread(target=_stop_with_parent, name="parent-watch", daemon=True).start()
    settle()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", log_config=None, access_log=False
    )
    Server(config, on_start=listens).run(sockets=[listening])


if __name__ == "__main__":
    main()
