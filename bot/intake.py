"""Hand-over: Marketing gives Baton a lead; Baton judges it and, if qualified, queues its card.

The claim and contact clocks start once the card is in the sales channel (`bot.cards`):
Sales cannot act on a lead it cannot see."""

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from functools import partial
from queue import SimpleQueue
from typing import Any

from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlmodel import Session

from bot import messages, routing
from bot.context import Context
from bot.pipeline import Stage
from bot.qualification import qualify
from bot.schemas import LeadIn
from storage import leads
from storage.db import transaction
from storage.models import Lead, new_id

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HandOver:
    lead: Lead
    created: bool


class Unstorable(Exception):
    """The database refused this lead for what it holds, though it passed validation.

    Nothing of it was stored; sent again unchanged, it would be refused again. `field` names
    the field when the database says which.
    """

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field


# SQLSTATE classes of a statement refused for the data it carries: 22 data exception (out of
# range, too long, badly encoded), 23 integrity constraint violation, 54 program limit exceeded
# (an index entry over its size). The rest (a lost connection, a full disk, a lock timeout,
# a shutdown) is the database's trouble, and no fault of the row.
_REFUSED_CONTENT = ("22", "23", "54")


def _refused_content(error: DBAPIError) -> bool:
    """Whether the database refused the rows for their content, not for being unavailable."""
    if error.connection_invalidated:
        return False
    if isinstance(error, IntegrityError | DataError):  # SQLite says it with the class alone
        return True
    state = getattr(error.orig, "sqlstate", None)  # psycopg
    return isinstance(state, str) and state[:2] in _REFUSED_CONTENT


def _unstorable(error: DBAPIError) -> Unstorable:
    diag = getattr(error.orig, "diag", None)
    text = getattr(diag, "message_primary", None) or str(error.orig).strip()
    column = getattr(diag, "column_name", None)
    field = column if column in LeadIn.model_fields else None
    return Unstorable(f"the database refused to store this lead: {text.splitlines()[0]}", field)


def hand_over(ctx: Context, lead_in: LeadIn, *, by: str) -> HandOver:
    """Store the lead, its verdict and its card in one transaction.

    The same `external_id` twice returns the stored lead untouched, even when both arrive at
    once: the unique index decides, and the loser reads the winner's lead. Nothing is looked
    up first: a repeat is rare, and a look before every hand-over would cost each of them.
    A lead the database refuses for its content raises `Unstorable`.
    """
    try:
        with transaction(ctx.sessions) as session:
            [lead] = _store(session, ctx, [(lead_in, by)])
    except DBAPIError as error:
        if isinstance(error, IntegrityError) and lead_in.external_id:
            with ctx.sessions() as session:
                known = leads.by_external_id(session=session, external_id=lead_in.external_id)
            if known is not None:
                return HandOver(known, created=False)
        if _refused_content(error):
            log.warning("intake: the database refused a hand-over: %s", error.orig)
            raise _unstorable(error) from error
        raise
    ctx.wake()
    return HandOver(lead, created=True)


def _store(session: Session, ctx: Context, group: list[tuple[LeadIn, str]]) -> list[Lead]:
    """Each lead with its verdict, its first event and its message.

    A few statements for the whole group, not a few per lead. The messages of a bulk import
    (`by="csv"`) go after every urgent one (`messages.priority`).
    """
    now = ctx.clock()
    rows: list[dict[str, Any]] = []
    stored: list[Lead] = []
    events: list[dict[str, Any]] = []
    queued: list[dict[str, Any]] = []
    for lead_in, by in group:
        verdict = qualify(lead_in, ctx.agreement.qualified_lead)
        row = {
            **lead_in.columns(),
            "id": new_id(),
            "qualified": verdict.qualified,
            "reasons": verdict.reasons,
            "stage": Stage.HANDED_OVER if verdict.qualified else Stage.UNQUALIFIED,
            "handed_over_by": by,
            "received_at": now,
        }
        rows.append(row)
        lead = leads.as_inserted(row)
        stored.append(lead)
        data = {"qualified": verdict.qualified, "reasons": verdict.reasons}
        events.append(leads.event(lead_id=lead.id, at=now, actor=by, kind="handed_over", data=data))
        priority = messages.priority(by)
        if verdict.qualified:
            queued.append(messages.card(lead_id=lead.id, at=now, priority=priority))
        else:
            queued.append(
                messages.said(
                    messages.POST,
                    recipient=ctx.agreement.channels.marketing,
                    template="returned_to_nurture",
                    lead_id=lead.id,
                    at=now,
                    priority=priority,
                    reasons=verdict.reasons,
                )
            )
    leads.insert_all(session=session, rows=rows)
    leads.record_all(session=session, events=events)
    messages.queue(session=session, rows=queued)
    _route(session, ctx, [lead for lead in stored if lead.qualified])
    return stored


def _route(session: Session, ctx: Context, qualified: list[Lead]) -> None:
    """With `routing.mode` round_robin or least_loaded, Baton gives each qualified lead to a
    seller now, in the hand-over's transaction; one it can give nobody stays open for Claim.
    After the cards are queued, so the new owner's message can link to the card."""
    if not qualified or not ctx.agreement.routing.assigns:
        return
    rotation = routing.Rotation(session, ctx.agreement, ctx.clock())
    for lead in qualified:
        routing.assign(session, ctx, lead=lead, now=rotation.now, rotation=rotation)


_Waiting = tuple[LeadIn, str, Future[HandOver]]


class Intake:
    """The API's hand-overs, written in groups: all that wait go in one transaction.

    A transaction's fixed cost (taking SQLite's write lock, a commit, a pool checkout) is
    most of a hand-over's, and hand-overs arrive in bursts. One writer thread takes every
    hand-over waiting when it is free, so a burst of a hundred costs a few commits, and one
    alone is written at once, with no wait to gather company. Each is answered only after
    its group is committed. If the database refuses the group for a row's content (a
    repeated `external_id`, a value it cannot hold), its hand-overs are written again one by
    one, so each gets its own answer: a repeat reads the stored lead, the refused row alone
    fails with `Unstorable`, and the rest are stored. A group that fails because the database
    is away fails as a whole, at once.
    """

    def __init__(self, ctx: Context, *, most: int = 100) -> None:
        self.ctx = ctx
        self.most = most
        self._waiting: SimpleQueue[_Waiting | None] = SimpleQueue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._write, name="baton-intake", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Write what is waiting, then stop."""
        if self._thread:
            self._waiting.put(None)
            self._thread.join()
            self._thread = None

    async def hand_over(self, lead_in: LeadIn, *, by: str) -> HandOver:
        if self._thread is None:
            raise RuntimeError("Baton is not running: start() it before handing over leads")
        return await asyncio.wrap_future(self.submit(lead_in, by=by))

    def submit(self, lead_in: LeadIn, *, by: str) -> Future[HandOver]:
        """Queue a hand-over; the future is settled once it is committed (or has failed).

        Hand-overs queued before `start()` are written when it starts."""
        done: Future[HandOver] = Future()
        self._waiting.put((lead_in, by, done))
        return done

    def _write(self) -> None:
        stopping = False
        while not stopping:
            taken = [self._waiting.get()]
            while len(taken) < self.most and not self._waiting.empty():
                taken.append(self._waiting.get())
            stopping = None in taken  # `stop()`: what came with it is still written
            group = [item for item in taken if item is not None]
            try:
                self._write_group(group)
            except Exception:  # the thread must live on for the next group
                log.exception("intake: a group of %d hand-overs failed", len(group))

    def _write_group(self, group: list[_Waiting]) -> None:
        # A request given up on before its group began is not written; from here on, none
        # can be cancelled, so every one written is answered.
        group = [item for item in group if item[2].set_running_or_notify_cancel()]
        if not group:
            return
        self.ctx.answers.let_through()
        try:
            with transaction(self.ctx.sessions) as session:
                stored = _store(session, self.ctx, [(lead_in, by) for lead_in, by, _ in group])
        except DBAPIError as error:
            if not _refused_content(error):
                for *_, done in group:
                    done.set_exception(error)
                return
            for lead_in, by, done in group:
                _settle(done, partial(hand_over, self.ctx, lead_in, by=by))
            return
        except Exception as error:
            for *_, done in group:
                done.set_exception(error)
            return
        for (*_, done), lead in zip(group, stored, strict=True):
            done.set_result(HandOver(lead, created=True))
        self.ctx.wake()


def _settle(done: Future[HandOver], work: Callable[[], HandOver]) -> None:
    try:
        done.set_result(work())
    except Exception as error:
        done.set_exception(error)
