"""Hand-over: Marketing gives Baton a lead; Baton judges it and, if qualified, starts the clocks."""

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from functools import partial
from queue import SimpleQueue
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot import messages, sla
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


def hand_over(ctx: Context, lead_in: LeadIn, *, by: str) -> HandOver:
    """Store the lead, its verdict, its clocks and its card in one transaction.

    The same `external_id` twice returns the stored lead untouched, even when both arrive at
    once: the unique index decides, and the loser reads the winner's lead. Nothing is looked
    up first: a repeat is rare, and a look before every hand-over would cost each of them.
    """
    try:
        with transaction(ctx.sessions) as session:
            [lead] = _store(session, ctx, [(lead_in, by)])
    except IntegrityError:
        if not lead_in.external_id:
            raise
        with ctx.sessions() as session:
            known = leads.by_external_id(session=session, external_id=lead_in.external_id)
        if known is None:
            raise
        return HandOver(known, created=False)
    ctx.wake()
    return HandOver(lead, created=True)


def _store(session: Session, ctx: Context, group: list[tuple[LeadIn, str]]) -> list[Lead]:
    """Each lead with its verdict, its first event, its clocks and its message.

    A few statements for the whole group, not a few per lead: the leads of a group are
    received at one moment, so their clocks share their deadlines.
    """
    now = ctx.clock()
    rows: list[dict[str, Any]] = []
    stored: list[Lead] = []
    events: list[dict[str, Any]] = []
    qualified: list[str] = []
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
        if verdict.qualified:
            qualified.append(lead.id)
            queued.append(messages.card(lead_id=lead.id, at=now))
        else:
            queued.append(
                messages.posting(
                    channel=ctx.agreement.channels.marketing,
                    template="returned_to_nurture",
                    lead_id=lead.id,
                    at=now,
                    reasons=verdict.reasons,
                )
            )
    leads.insert_all(session=session, rows=rows)
    leads.record_all(session=session, events=events)
    for kind in (sla.CLAIM, sla.CONTACT):
        sla.open_clocks(
            session=session, agreement=ctx.agreement, lead_ids=qualified, kind=kind, start=now
        )
    messages.queue(session=session, rows=queued)
    return stored


_Waiting = tuple[LeadIn, str, Future[HandOver]]


class Intake:
    """The API's hand-overs, written in groups: all that wait go in one transaction.

    A transaction's fixed cost (taking SQLite's write lock, a commit, a pool checkout) is
    most of a hand-over's, and hand-overs arrive in bursts. One writer thread takes every
    hand-over waiting when it is free, so a burst of a hundred costs a few commits, and one
    alone is written at once, with no wait to gather company. Each is answered only after
    its group is committed. If the group fails on a repeated `external_id`, its hand-overs
    are written again one by one, so each still gets its own answer and a repeat reads the
    stored lead.
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
        except IntegrityError:
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
