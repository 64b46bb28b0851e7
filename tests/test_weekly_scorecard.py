"""The weekly scorecard end to end: three messages, each with its chart uploaded through the
stand-in's upload flow, exactly once across a crash, and once when it fell due while down."""

import struct
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from bot import intake, ownership, reports
from bot.agreement import Agreement
from bot.agreement_file import parse_agreement
from bot.charts.scorecard import HEIGHT_PX, WIDTH_PX
from bot.scheduler import SCORECARD_MISSED, DeadlineScheduler
from bot.schemas import LeadIn
from bot.service.runtime import Runtime, build
from bot.service.settings import Settings
from bot.slack import transport as slack_transport
from bot.slack.uploads import SETTLE
from storage import outbox
from storage.db import migrate
from storage.models import Outbox
from tests.support import AGREEMENT, lead, show_card

MONDAY = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # 09:00 in Copenhagen: last week is the 16th
TEMPLATES = {
    "scorecard": "D0CEO",
    "scorecard_sales": "D0MANAGER",
    "scorecard_marketing": "C0MKTG",
}


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Crash(BaseException):
    """The process dies here: not an error the courier handles, nothing after it runs."""


@pytest.fixture
def clock() -> Clock:
    return Clock(MONDAY - timedelta(days=5))


def start(settings: Settings, agreement: Agreement, clock: Clock) -> Runtime:
    """Baton, not started: the test runs the courier's passes itself."""
    runtime = build(settings, agreement, clock=clock)
    migrate(runtime.engine)
    return runtime


@pytest.fixture
def baton(settings: Settings, agreement: Agreement, clock: Clock) -> Iterator[Runtime]:
    runtime = start(settings, agreement, clock)
    yield runtime
    runtime.engine.dispose()


def last_week(runtime: Runtime, clock: Clock) -> None:
    """Three leads last week: two contacted (1 h and 6 h after their cards), one not qualified."""
    for number, hours in enumerate((1.0, 6.0, None)):
        clock.now = MONDAY - timedelta(days=5, hours=-number)
        body = lead(email=f"week{number}@nordlys.dk", country="DK" if hours else "US")
        handed = intake.hand_over(runtime.ctx, LeadIn.model_validate(body), by="api").lead
        if hours is None:
            continue
        show_card(runtime.ctx, handed.id)
        ownership.claim(runtime.ctx, lead_id=handed.id, user="U0SELLER1")
        clock.now += timedelta(hours=hours)
        ownership.mark_contacted(runtime.ctx, lead_id=handed.id, user="U0SELLER1")


def deliver(runtime: Runtime, clock: Clock, at: datetime) -> None:
    """Every pass the courier makes at `at`, until one finds nothing due."""
    clock.now = at
    for _ in range(20):
        if not runtime.courier.run_once():
            return


def deliver_all(runtime: Runtime, clock: Clock, at: datetime) -> None:
    """The uploads at `at`, and the messages that show them once Slack has processed them."""
    deliver(runtime, clock, at)
    deliver(runtime, clock, at + SETTLE)


def scorecards(slack) -> dict[str, list[dict]]:
    """The scorecard messages in Slack by template, as each conversation holds them."""
    found: dict[str, list[dict]] = {}
    for template, channel in TEMPLATES.items():
        found[template] = [
            m
            for m in slack.messages(channel)
            if any(block["type"] == "image" for block in m.get("blocks", []))
        ]
    return found


def image_of(message: dict) -> dict:
    (image,) = [block for block in message["blocks"] if block["type"] == "image"]
    return image


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_each_recipient_gets_its_side_with_its_chart_uploaded_and_shown(baton, clock, slack):
    last_week(baton, clock)
    deliver(baton, clock, MONDAY)  # the cards
    clock.now = MONDAY
    assert reports.send_weekly(baton.ctx) is True
    deliver(baton, clock, MONDAY)
    # Uploaded; no message shows a file before Slack has had time to process it.
    assert len(slack.calls_to("files.completeUploadExternal")) == 3
    assert not any(scorecards(slack).values())
    deliver(baton, clock, MONDAY + SETTLE)

    uploads = [
        c.method for c in slack.calls if c.method.startswith("files.") or c.method == "upload_url"
    ]
    assert (
        uploads
        == [
            "files.getUploadURLExternal",
            "upload_url",
            "files.completeUploadExternal",
        ]
        * 3
    )
    for completed in slack.calls_to("files.completeUploadExternal"):
        assert "channel_id" not in completed.params and "channels" not in completed.params
    files = {file["id"]: file for file in slack.files()}
    assert all(file["shares"] == {} for file in files.values())  # no upload shown by itself

    found = scorecards(slack)
    shown = set()
    for messages in found.values():
        (message,) = messages  # in the right conversation, once
        file_id = image_of(message)["slack_file"]["id"]
        shown.add(file_id)
        content, kind = slack.file_content(file_id)
        assert kind == "image/png" and png_size(content) == (WIDTH_PX, HEIGHT_PX)
        assert files[file_id]["title"] == image_of(message)["title"]["text"]
    assert len(shown) == 3  # each its own chart: the CEO both panels, each side its own
    marketing = image_of(found["scorecard_marketing"][0])["alt_text"]
    assert "Qualified hand-overs in 2026-11: 2 by day 22" in marketing
    sales = image_of(found["scorecard_sales"][0])["alt_text"]
    assert sales == "First contact: 1 of 2 leads within the agreed 4 hours."  # a 24/7 clock


def test_a_crash_between_upload_and_post_sends_each_message_once(
    baton, clock, slack, settings, agreement, monkeypatch
):
    clock.now = MONDAY
    reports.send_weekly(baton.ctx)

    def crash(*args, **kwargs):
        raise Crash

    deliver(baton, clock, MONDAY)  # the three uploads, their ids kept
    assert len(slack.calls_to("files.completeUploadExternal")) == 3
    with monkeypatch.context() as patched:  # about to post, the process dies
        patched.setattr(slack_transport.SlackTransport, "_post", crash)
        with pytest.raises(Crash):
            deliver(baton, clock, MONDAY + SETTLE)
    assert slack.calls_to("chat.postMessage") == []

    restarted = start(settings, agreement, clock)  # the lease runs out; another process
    deliver_all(restarted, clock, MONDAY + timedelta(seconds=30))
    deliver_all(restarted, clock, MONDAY + timedelta(minutes=5))
    assert len(slack.calls_to("files.completeUploadExternal")) == 3  # not uploaded again
    assert {t: len(m) for t, m in scorecards(slack).items()} == dict.fromkeys(TEMPLATES, 1)
    restarted.engine.dispose()


def test_a_crash_before_the_file_id_is_kept_uploads_again_and_posts_once(
    baton, clock, slack, settings, agreement, monkeypatch
):
    clock.now = MONDAY
    reports.send_weekly(baton.ctx)

    def crash(**kwargs):
        raise Crash

    with monkeypatch.context() as patched:
        patched.setattr(outbox, "remember", crash)
        with pytest.raises(Crash):
            deliver(baton, clock, MONDAY)

    restarted = start(settings, agreement, clock)
    deliver_all(restarted, clock, MONDAY + timedelta(seconds=20))
    deliver_all(restarted, clock, MONDAY + timedelta(minutes=5))
    # The first upload is left private to Baton; nobody sees it, and nothing shows twice.
    assert len(slack.files()) == 4
    assert all(file["shares"] == {} for file in slack.files())
    assert {t: len(m) for t, m in scorecards(slack).items()} == dict.fromkeys(TEMPLATES, 1)
    restarted.engine.dispose()


def test_a_post_whose_answer_was_lost_is_found_not_posted_again(baton, clock, slack):
    clock.now = MONDAY
    reports.send_weekly(baton.ctx)
    slack.disconnect("chat.postMessage", after_accepting=True)
    deliver_all(baton, clock, MONDAY)
    deliver_all(baton, clock, MONDAY + timedelta(minutes=5))
    assert len(slack.calls_to("files.completeUploadExternal")) == 3
    assert {t: len(m) for t, m in scorecards(slack).items()} == dict.fromkeys(TEMPLATES, 1)


def test_an_upload_slack_rate_limits_waits_and_goes_once(baton, clock, slack):
    clock.now = MONDAY
    reports.send_weekly(baton.ctx)
    slack.rate_limit("files.getUploadURLExternal", retry_after=30)
    deliver(baton, clock, MONDAY)
    assert slack.calls_to("chat.postMessage") == []  # every upload held for Retry-After
    deliver_all(baton, clock, MONDAY + timedelta(seconds=31))
    assert {t: len(m) for t, m in scorecards(slack).items()} == dict.fromkeys(TEMPLATES, 1)
    with baton.ctx.sessions() as session:
        assert outbox.count_pending(session=session) == 0


# due while down ----------------------------------------------------------------------------


def queued(ctx) -> list[Outbox]:
    with ctx.sessions() as session:
        rows = session.exec(select(Outbox)).all()
    return [row for row in rows if row.payload.get("template", "").startswith("scorecard")]


def wait_for(found, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while not (value := found()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return value


@pytest.mark.parametrize(
    ("now", "week"),
    [
        (datetime(2026, 11, 25, 12, 0, tzinfo=UTC), "2026-11-16"),  # Wednesday: Monday's is due
        (datetime(2026, 11, 30, 6, 0, tzinfo=UTC), "2026-11-16"),  # next Monday, before 08:00
    ],
)
def test_a_scorecard_due_while_down_goes_once_after_start(ctx, now, week):
    ctx.agreement = parse_agreement(AGREEMENT + 'reports: {weekly: "mon 08:00"}\n')
    ctx.clock = Clock(datetime(2026, 11, 18, 9, 0, tzinfo=UTC))
    intake.hand_over(ctx, LeadIn.model_validate(lead()), by="api")  # Baton was in use
    ctx.clock = Clock(now)
    for _ in range(2):  # a start, then a restart: the second sends nothing
        scheduler = DeadlineScheduler(ctx)
        scheduler.start()
        try:
            jobs = scheduler.jobs
            assert wait_for(lambda jobs=jobs: jobs.get_job(SCORECARD_MISSED) is None)
        finally:
            scheduler.stop()  # waits for the job it ran
        rows = queued(ctx)
    assert sorted(row.payload["template"] for row in rows) == sorted(TEMPLATES)
    assert {row.payload["facts"]["card"]["since"][:10] for row in rows} == {week}


def test_a_new_installation_does_not_open_with_last_weeks_empty_scorecard(ctx):
    ctx.agreement = parse_agreement(AGREEMENT + 'reports: {weekly: "mon 08:00"}\n')
    ctx.clock = Clock(datetime(2026, 11, 25, 12, 0, tzinfo=UTC))
    scheduler = DeadlineScheduler(ctx)
    scheduler.start()
    try:
        jobs = scheduler.jobs
        assert wait_for(lambda: jobs.get_job(SCORECARD_MISSED) is None)
    finally:
        scheduler.stop()
    assert queued(ctx) == []
