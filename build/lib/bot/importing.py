"""Hand over the rows of a CSV export: checked one by one, written a chunk at a time.

A chunk of rows is one transaction through the intake's group store (`by="csv"`), with one
query for the `external_id`s and one for the people already open, so fifty thousand rows
cost a hundred commits, not fifty thousand.

A row is a repeat when a lead with its `external_id` exists, or when a lead for the same
person (the email in any letter case) at the same company is still open (not closed, not
forgotten): importing one file twice hands nothing over twice. A dry run checks every row
the same way and stores nothing.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from itertools import islice
from multiprocessing import get_context
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot import intake
from bot.context import Context
from bot.csvfile import Row
from bot.qualification import qualify
from bot.schemas import LeadIn
from storage import leads
from storage.db import transaction

CHUNK = 500
CHECKED_APART = 2_000_000  # bytes of CSV, about 4,000 rows: below it a process costs more
BY = "csv"

NEW, KNOWN, INVALID = "new", "known", "invalid"


@dataclass(frozen=True)
class Outcome:
    """What became of one row (or would, in a dry run)."""

    line: int
    verdict: str
    """new (handed over), known (a repeat) or invalid."""
    lead: LeadIn | None = None
    qualified: bool | None = None
    reasons: list[str] = field(default_factory=list)
    """Why a new lead is not qualified, or what is wrong with an invalid row."""
    known_as: str | None = None
    """The id of the lead a repeat is already known as, when it was stored before."""


@dataclass
class Tally:
    rows: int = 0
    handed_over: int = 0
    qualified: int = 0
    known: int = 0
    invalid: int = 0

    def add(self, outcome: Outcome) -> None:
        self.rows += 1
        if outcome.verdict == NEW:
            self.handed_over += 1
            self.qualified += bool(outcome.qualified)
        elif outcome.verdict == KNOWN:
            self.known += 1
        else:
            self.invalid += 1


def lead_of(row: Row) -> LeadIn | list[str]:
    """The row as a hand-over, or every problem with it (one line each)."""
    if row.problem:
        return [row.problem]
    fields: dict[str, Any] = dict(row.fields)
    if "activity" in fields:
        try:
            fields["activity"] = json.loads(fields["activity"])
        except json.JSONDecodeError:
            return ['activity: is not JSON (a list like [{"at": …, "kind": …}])']
    try:
        return LeadIn.model_validate(fields)
    except ValidationError as error:
        return [_problem(problem) for problem in error.errors()]


def _problem(problem: Any) -> str:
    where = ".".join(str(part) for part in problem["loc"])
    if problem["type"] == "string_too_long":
        limit = problem["ctx"]["max_length"]
        return f"{where}: {len(problem['input']):,} characters, at most {limit:,}"
    return f"{where}: {problem['msg'].removeprefix('Value error, ')}"


def _person(email: str, company: str) -> tuple[str, str]:
    """Who a lead is about, for spotting a repeat: the email in any letter case, the company
    in any case and spacing."""
    return email.lower(), " ".join(company.split()).casefold()


def check_all(rows: list[Row]) -> list[LeadIn | list[str]]:
    return [lead_of(row) for row in rows]


@contextmanager
def checking_process(size: int) -> Iterator[Executor | None]:
    """A second process that checks rows while this one writes them, for a file of more than
    a few chunks: checking (the email, the phone number) is half the work of a row, and a
    process of its own runs it on another core. Smaller files are checked in line."""
    if size < CHECKED_APART:
        yield None
        return
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        yield pool


class Import:
    """One run over a file's rows; `run` yields each row's outcome as its chunk is done."""

    def __init__(
        self,
        ctx: Context,
        *,
        dry_run: bool = False,
        chunk: int = CHUNK,
        checker: Executor | None = None,
    ) -> None:
        self.ctx = ctx
        self.dry_run = dry_run
        self.chunk = chunk
        self.checker = checker
        self.tally = Tally()
        # A dry run stores nothing, so it remembers who it would have handed over, to find a
        # repeat within the file; a real run finds it in the database, chunk after chunk.
        self._would: set[tuple[str, str]] = set()
        self._would_ids: set[str] = set()

    def run(self, rows: Iterable[Row]) -> Iterator[Outcome]:
        for chunk, leads_ in self._checked(rows):
            for outcome in self._chunk(list(zip(chunk, leads_, strict=True))):
                self.tally.add(outcome)
                yield outcome

    def _checked(self, rows: Iterable[Row]) -> Iterator[tuple[list[Row], list[Any]]]:
        """Chunks of rows with what checking made of each; with a checker, two chunks ahead."""
        rows = iter(rows)
        chunks = iter(lambda: list(islice(rows, self.chunk)), [])
        if self.checker is None:
            for chunk in chunks:
                yield chunk, check_all(chunk)
            return
        ahead: deque[tuple[list[Row], Future[list[Any]]]] = deque()
        for chunk in chunks:
            ahead.append((chunk, self.checker.submit(check_all, chunk)))
            if len(ahead) > 2:
                done, checked = ahead.popleft()
                yield done, checked.result()
        while ahead:
            done, checked = ahead.popleft()
            yield done, checked.result()

    def _chunk(self, checked: list[tuple[Row, LeadIn | list[str]]]) -> list[Outcome]:
        valid = [(row, lead) for row, lead in checked if isinstance(lead, LeadIn)]
        if self.dry_run:
            with self.ctx.sessions() as session:
                decided = self._decide(session, valid, self._would, self._would_ids)
        else:
            try:
                with transaction(self.ctx.sessions) as session:
                    decided = self._store(session, self._decide(session, valid, set(), set()))
            except IntegrityError:
                # A lead with one of these external_ids came in through the API meanwhile:
                # each row on its own, so only that one is a repeat.
                decided = [self._alone(row, lead) for row, lead in valid]
        by_line = {outcome.line: outcome for outcome in decided}
        return [
            by_line[row.line]
            if isinstance(lead, LeadIn)
            else Outcome(row.line, INVALID, reasons=lead)
            for row, lead in checked
        ]

    def _decide(
        self,
        session: Session,
        valid: list[tuple[Row, LeadIn]],
        people: set[tuple[str, str]],
        ids: set[str],
    ) -> list[Outcome]:
        """Each valid row: a repeat of a stored lead or of an earlier row, or a new lead."""
        given_ids = [lead.external_id for _, lead in valid if lead.external_id]
        stored_ids = leads.known_external_ids(session=session, external_ids=given_ids)
        emails = list({lead.email for _, lead in valid})
        open_people = {
            _person(email, company): lead_id
            for email, company, lead_id in leads.open_by_email(session=session, emails=emails)
        }
        outcomes = []
        for row, lead in valid:
            person = _person(lead.email, lead.company)
            known_as = open_people.get(person)
            repeat = (
                known_as is not None
                or person in people
                or lead.external_id in stored_ids
                or lead.external_id in ids
            )
            if repeat:
                outcomes.append(Outcome(row.line, KNOWN, lead, known_as=known_as))
                continue
            people.add(person)
            if lead.external_id:
                ids.add(lead.external_id)
            if self.dry_run:
                verdict = qualify(lead, self.ctx.agreement.qualified_lead)
                outcomes.append(Outcome(row.line, NEW, lead, verdict.qualified, verdict.reasons))
            else:  # the group store judges it as it stores it
                outcomes.append(Outcome(row.line, NEW, lead))
        return outcomes

    def _store(self, session: Session, decided: list[Outcome]) -> list[Outcome]:
        """Hand the new leads over through the intake's group store; their verdicts back."""
        new = [outcome for outcome in decided if outcome.verdict == NEW and outcome.lead]
        stored = intake._store(session, self.ctx, [(outcome.lead, BY) for outcome in new])
        judged = {
            outcome.line: replace(outcome, qualified=lead.qualified, reasons=lead.reasons)
            for outcome, lead in zip(new, stored, strict=True)
        }
        return [judged.get(outcome.line, outcome) for outcome in decided]

    def _alone(self, row: Row, lead: LeadIn) -> Outcome:
        try:
            with transaction(self.ctx.sessions) as session:
                [outcome] = self._store(session, self._decide(session, [(row, lead)], set(), set()))
        except IntegrityError:
            return Outcome(row.line, KNOWN, lead)
        return outcome
