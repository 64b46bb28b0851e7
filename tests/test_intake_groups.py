"""The API's hand-overs are written in groups: one transaction for all that wait together."""

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import DBAPIError

from bot.context import Context
from bot.intake import Intake, Unstorable
from bot.schemas import LeadIn
from storage.models import Deadline, Event, Lead, Outbox
from tests.support import lead


def _hand_overs(count: int, **changes) -> list[LeadIn]:
    return [
        LeadIn.model_validate(lead(external_id=f"crm-{n}", email=f"lead{n}@nordlys.dk", **changes))
        for n in range(count)
    ]


@contextmanager
def _lead_inserts(ctx: Context) -> Iterator[list[str]]:
    """The INSERT statements into `lead` sent while the block runs (executemany counts once)."""
    engine = ctx.sessions.kw["bind"]
    seen: list[str] = []

    def watch(_conn, _cursor, statement, _parameters, _context, _executemany) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO LEAD "):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", watch)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", watch)


@contextmanager
def _running(intake: Intake) -> Iterator[Intake]:
    intake.start()
    try:
        yield intake
    finally:
        intake.stop()


def _count(ctx: Context, model) -> int:
    with ctx.sessions() as session:
        return session.execute(select(func.count()).select_from(model)).scalar_one()


def test_hand_overs_waiting_together_are_written_in_one_statement_each_answered(ctx):
    intake = Intake(ctx)
    waiting = [intake.submit(hand_over, by="api") for hand_over in _hand_overs(20)]
    with _lead_inserts(ctx) as inserts, _running(intake):
        answers = [done.result(timeout=30) for done in waiting]

    assert len(inserts) == 1
    assert all(answer.created for answer in answers)
    assert [answer.lead.external_id for answer in answers] == [f"crm-{n}" for n in range(20)]
    assert len({answer.lead.id for answer in answers}) == 20
    assert _count(ctx, Lead) == 20
    assert _count(ctx, Event) == 20
    assert _count(ctx, Deadline) == 0  # the clocks start once the card is in the channel
    with ctx.sessions() as session:  # the cards queue in the order the hand-overs came
        queued = session.execute(select(Outbox.lead_id).order_by(Outbox.id)).scalars().all()
    assert queued == [answer.lead.id for answer in answers]


def test_a_repeated_external_id_in_a_group_answers_each_on_its_own(ctx):
    first, second, third = _hand_overs(3)
    again = LeadIn.model_validate(lead(external_id="crm-1", name="Someone Else"))
    intake = Intake(ctx)
    waiting = [intake.submit(item, by="api") for item in (first, second, again, third)]
    with _running(intake):
        answers = [done.result(timeout=30) for done in waiting]

    assert [answer.created for answer in answers] == [True, True, False, True]
    assert answers[2].lead.id == answers[1].lead.id
    assert answers[2].lead.name == "Mette Hansen"
    assert _count(ctx, Lead) == 3
    assert _count(ctx, Outbox) == 3


def test_a_group_that_fails_fails_each_hand_over_and_the_writer_goes_on(ctx):
    engine = ctx.sessions.kw["bind"]
    with engine.begin() as connection:  # a table is gone: every hand-over's write fails
        connection.execute(text("DROP TABLE outbox"))
    intake = Intake(ctx)
    failed = [intake.submit(item, by="api") for item in _hand_overs(3)]
    with _lead_inserts(ctx) as inserts, _running(intake):
        for done in failed:
            with pytest.raises(DBAPIError):
                done.result(timeout=30)
        # Not the rows' fault, so not written again one by one: each would fail the same way.
        assert len(inserts) == 1
        Outbox.__table__.create(engine)
        later = intake.submit(_hand_overs(1, name="Later Lead")[0], by="api").result(timeout=30)

    assert later.created
    assert _count(ctx, Lead) == 1  # nothing of the failed group was half-written


def test_a_hand_over_given_up_on_before_it_is_written_is_not_written(ctx):
    intake = Intake(ctx)
    kept, given_up = (intake.submit(item, by="api") for item in _hand_overs(2))
    assert given_up.cancel()
    with _running(intake):
        assert kept.result(timeout=30).created
    assert _count(ctx, Lead) == 1


def _refuse_leads_named(ctx: Context, name: str) -> None:
    """Make the database itself refuse a lead by its content, as a constraint would."""
    engine = ctx.sessions.kw["bind"]
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(
                text(f"ALTER TABLE lead ADD CONSTRAINT no_{name[:6]} CHECK (name <> '{name}')")
            )
        else:
            connection.execute(
                text(
                    f"CREATE TRIGGER no_{name[:6]} BEFORE INSERT ON lead WHEN NEW.name = '{name}' "
                    "BEGIN SELECT RAISE(ABORT, 'refused by a constraint'); END"
                )
            )


def test_a_row_the_database_refuses_fails_alone_and_its_group_is_stored(ctx):
    _refuse_leads_named(ctx, "Refused")
    hand_overs = _hand_overs(20)
    hand_overs[7] = LeadIn.model_validate(lead(external_id="crm-bad", name="Refused"))
    intake = Intake(ctx)
    waiting = [intake.submit(item, by="api") for item in hand_overs]
    with _running(intake):
        refused = waiting.pop(7)
        with pytest.raises(Unstorable, match="the database refused to store this lead"):
            refused.result(timeout=30)
        answers = [done.result(timeout=30) for done in waiting]

    assert all(answer.created for answer in answers)
    assert _count(ctx, Lead) == 19
    assert _count(ctx, Event) == 19  # nothing of the refused one: no event or card
    assert _count(ctx, Deadline) == 0  # clocks start once a card is in the channel
    assert _count(ctx, Outbox) == 19
