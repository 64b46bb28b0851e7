"""What every domain service needs, handed over explicitly instead of read from globals."""

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from bot.agreement import Agreement
from bot.clock import Clock, utcnow
from bot.request_gate import Answers


def _nothing() -> None:
    return None


@dataclass
class Context:
    agreement: Agreement
    sessions: sessionmaker[Session]
    clock: Clock = utcnow
    wake: Callable[[], None] = field(default=_nothing)
    """Called after a commit that queued messages or changed deadlines, so workers look now."""
    answers: Answers = field(default_factory=Answers)
    """Slack requests being answered; background work lets them go first."""
    crms: frozenset[str] = frozenset()
    """The CRMs Baton may write back to (those with a token): a lead's changes are queued
    for its CRM object only when its CRM is one of them (`bot.crm.queue`)."""
