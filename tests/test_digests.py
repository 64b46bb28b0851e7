"""Digests: the notices for one person close together go as one message, kept up to date."""

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, select

from bot import digests, escalation, intake, ownership
from bot.context import Context
from bot.scheduler import DeadlineScheduler
from bot.schemas import LeadIn
from bot.slack import digest_layout
from bot.slack.render import Renderer
from storage.db import transaction
from storage.models import Deadline, Digest, DigestItem, Lead, Outbox
from tests.support import lead, show_card

START = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # a Tuesday
DUE = START + timedelta(hours=1)  # the claim deadline of a lead handed over at START


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def timed(ctx: Context, clock: FakeClock) -> Context:
    ctx.clock = clock
    return ctx


def hand_over(ctx: Context, number: int) -> str:
    """A lead handed over with its card shown at once, so its clocks start now."""
    body = lead(email=f"storm{number}@nordlys.dk", name=f"Storm {number:03d}")
    lead_id = intake.hand_over(ctx, LeadIn.model_validate(body), by="api").lead.id
    show_card(ctx, lead_id)
    return lead_id


def tick(ctx: Context, clock: FakeClock, at: datetime) -> None:
    clock.now = at
    DeadlineScheduler(ctx).run_once()


def rows(ctx: Context, kind: str) -> list[Outbox]:
    with ctx.sessions() as session:
        return list(session.exec(select(Outbox).where(Outbox.kind == kind)).all())


def digests_of(ctx: Context, recipient: str) -> list[tuple[Digest, list[DigestItem]]]:
    with ctx.sessions() as session:
        found = session.exec(
            select(Digest).where(Digest.recipient == recipient).order_by(col(Digest.id))
        ).all()
        return [
            (
                digest,
                list(session.exec(select(DigestItem).where(DigestItem.digest_id == digest.id))),
            )
            for digest in found
        ]


def view(ctx: Context, digest_id: int) -> digests.Shown:
    with ctx.sessions() as session:
        shown = digests.view(
            session,
            digest_id,
            agreement=ctx.agreement,
            now=ctx.clock(),
            link=lambda _: None,
            pack=digest_layout.pack,
        )
    assert shown is not None
    return shown


def deliver(ctx: Context, kind: str) -> None:
    """What the courier records once Slack took a digest's pending row."""
    with transaction(ctx.sessions) as session:
        for row in session.exec(
            select(Outbox).where(Outbox.kind == kind, col(Outbox.sent_at).is_(None))
        ).all():
            digest_id = row.payload["digest"]
            digest = session.get(Digest, digest_id)
            assert digest is not None
            row.sent_at, row.next_attempt_at = ctx.clock(), None
            posted = ("slack", "D0MANAGER", "1.000001") if kind == "digest" else None
            digests.shown(
                session,
                digest_id=digest_id,
                version=digest.version,
                at=ctx.clock(),
                item_ids=[],
                posted=posted,
            )


def test_a_storm_gives_the_manager_one_message_a_minute(timed: Context, clock: FakeClock):
    ids = [hand_over(timed, number) for number in range(30)]
    tick(timed, clock, DUE)
    [(first, named)] = digests_of(timed, "U0MANAGER")
    assert sorted(item.lead_id for item in named) == sorted(ids)
    assert len(rows(timed, "digest")) == 1  # one post for thirty overdue leads
    assert not rows(timed, "dm")

    # More leads fall due 20 s later: the same minute, so the same message, brought up to date
    clock.now = START + timedelta(seconds=20)
    later = [hand_over(timed, number) for number in range(30, 35)]
    tick(timed, clock, DUE + timedelta(seconds=20))
    [(same, named)] = digests_of(timed, "U0MANAGER")
    assert same.id == first.id and len(named) == 35
    assert len(rows(timed, "digest")) == 1  # the post is still pending and will show all 35
    assert not rows(timed, "digest_update")

    deliver(timed, "digest")
    clock.now = START + timedelta(seconds=40)
    hand_over(timed, 99)
    tick(timed, clock, DUE + timedelta(seconds=40))
    assert len(rows(timed, "digest_update")) == 1
    update_row = rows(timed, "digest_update")[0]
    assert update_row.next_attempt_at >= DUE + timedelta(seconds=20) + digests.UPDATE_EVERY

    # A minute on, a new message
    clock.now = START + timedelta(seconds=70)
    hand_over(timed, 100)
    tick(timed, clock, DUE + timedelta(seconds=70))
    assert [len(named) for _, named in digests_of(timed, "U0MANAGER")] == [36, 1]
    assert len(rows(timed, "digest")) == 2
    assert set(later) <= {
        item.lead_id for _, named in digests_of(timed, "U0MANAGER") for item in named
    }


def test_a_lone_overdue_lead_gets_its_own_escalation(timed: Context, clock: FakeClock):
    lead_id = hand_over(timed, 1)
    tick(timed, clock, DUE)
    [(digest, [_])] = digests_of(timed, "U0MANAGER")
    shown = view(timed, digest.id)
    assert shown.template == "escalation"
    assert shown.facts["lead"].id == lead_id
    assert shown.facts["role"] == "sales_manager"
    message = Renderer(timed.agreement).message(shown.template, **shown.facts)
    assert "Missed claim deadline" in message["text"]


def test_many_overdue_leads_read_as_one_list_with_the_managers_actions(
    timed: Context, clock: FakeClock
):
    ids = [hand_over(timed, number) for number in range(25)]
    tick(timed, clock, DUE + timedelta(minutes=5))
    [(digest, _)] = digests_of(timed, "U0MANAGER")
    shown = view(timed, digest.id)
    assert shown.template == "digest"
    assert [row.lead.id for row in shown.facts["rich"]] == ids[:20]
    assert [row.lead.id for block in shown.facts["lines"] for row in block] == ids[20:]
    first = shown.facts["rich"][0]
    assert first.late_seconds == 300
    assert [action["id"] for action in first.actions] == ["assign", "extend"]
    message = Renderer(timed.agreement).message("digest", **shown.facts)
    text = json.dumps(message["blocks"])
    assert "25 missed deadlines" in message["blocks"][0]["text"]["text"]
    assert all(f"Storm {n:03d}" in text for n in range(25))
    assert "baton.assign|" + ids[0] in text


def test_unclaimed_reminders_alone_in_the_thread_together_in_the_channel(
    timed: Context, clock: FakeClock
):
    first = hand_over(timed, 1)
    tick(timed, clock, START + timedelta(minutes=30))
    [reply] = rows(timed, "reply")
    assert reply.lead_id == first and reply.payload["template"] == "reminder_unclaimed"
    assert not rows(timed, "digest")

    clock.now = START + timedelta(seconds=10)
    others = [hand_over(timed, 2), hand_over(timed, 3)]
    tick(timed, clock, START + timedelta(minutes=30, seconds=10))
    assert len(rows(timed, "reply")) == 1  # no thread reply for leads that go in the digest
    [post] = rows(timed, "digest")
    assert post.recipient == "C0SALES"
    shown = view(timed, post.payload["digest"])
    assert shown.template == "digest" and shown.facts["in_channel"]
    named = [row.lead.id for row in shown.facts["rich"]]
    assert named == others  # the first went to its thread, and is named only there
    assert all(row.actions == [{"id": "claim", "lead": row.lead.id}] for row in shown.facts["rich"])


def test_a_claimed_lead_shows_as_dealt_with_on_the_next_update(timed: Context, clock: FakeClock):
    ids = [hand_over(timed, number) for number in range(3)]
    tick(timed, clock, DUE)
    deliver(timed, "digest")
    clock.now = DUE + timedelta(seconds=5)
    ownership.claim(timed, lead_id=ids[1], user="U0SELLER2")
    [update_row] = rows(timed, "digest_update")
    shown = view(timed, update_row.payload["digest"])
    states = {row.lead.id: (row.state, row.owner, row.actions) for row in shown.facts["rich"]}
    assert states[ids[1]] == ("claimed", "U0SELLER2", [])
    assert states[ids[0]][0] == "open"
    assert shown.facts["done"] == 1 and shown.facts["overdue"] == 2

    # A second change while that update is pending queues nothing more: it will show both.
    escalation.extend(timed, lead_id=ids[0], kind="claim", by="U0MANAGER", reason="Offsite")
    assert len(rows(timed, "digest_update")) == 1
    shown = view(timed, update_row.payload["digest"])
    extended = next(row for row in shown.facts["rich"] if row.lead.id == ids[0])
    assert extended.state == "extended" and extended.until == DUE + timedelta(hours=1, seconds=5)


def test_a_forgotten_lead_is_removed_from_the_digests_that_name_it(
    timed: Context, clock: FakeClock
):
    from bot import privacy

    ids = [hand_over(timed, number) for number in range(2)]
    tick(timed, clock, DUE)
    deliver(timed, "digest")
    with timed.sessions() as session:
        email = session.get(Lead, ids[0]).email
    privacy.forget(timed, email=email, by="U0CEO")
    [update_row] = rows(timed, "digest_update")
    shown = view(timed, update_row.payload["digest"])
    gone = next(row for row in shown.facts["rich"] if row.lead.id == ids[0])
    assert gone.state == "removed" and gone.lead.name == privacy.REMOVED


def test_notices_from_many_transactions_at_once_converge_on_one_digest(ctx: Context):
    """Two writers adding notices for one person in the same minute, as two replicas' sweeps
    would: one digest, every notice in it once, one post."""
    ids = [hand_over(ctx, number) for number in range(40)]
    with ctx.sessions() as session:
        clocks = {
            c.lead_id: c
            for c in session.exec(select(Deadline).where(Deadline.kind == "claim")).all()
        }
    now = datetime.now(UTC).replace(second=10)

    def write(lead_ids: list[str]) -> None:
        for lead_id in lead_ids:
            with transaction(ctx.sessions) as session:
                clock = clocks[lead_id]
                digests.notify(
                    session,
                    digests.Notice(
                        recipient="U0MANAGER",
                        kind=digests.ESCALATION,
                        lead_id=lead_id,
                        deadline_id=clock.id,
                        clock="claim",
                        step=0,
                        due_at=clock.due_at,
                        planned=clock.due_at,
                        at=now,
                        template="escalation",
                        facts={"role": "sales_manager"},
                    ),
                )

    writers = [threading.Thread(target=write, args=(ids[n::2],)) for n in range(2)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    [(digest, named)] = digests_of(ctx, "U0MANAGER")
    assert sorted(item.lead_id for item in named) == sorted(ids)
    assert digest.version == 40 and digest.queued
    assert len(rows(ctx, "digest")) == 1


def test_lead_clock_moves_do_not_touch_a_digest_that_was_only_a_thread_reply(
    timed: Context, clock: FakeClock
):
    lead_id = hand_over(timed, 1)
    tick(timed, clock, START + timedelta(minutes=30))
    clock.now = START + timedelta(minutes=31)
    ownership.claim(timed, lead_id=lead_id, user="U0SELLER1")
    assert not rows(timed, "digest") and not rows(timed, "digest_update")
    with timed.sessions() as session:
        assert session.exec(select(Digest)).one().queued is False
