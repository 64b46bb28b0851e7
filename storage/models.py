"""Tables. Leads hold their current state; `Event` is the append-only history behind it."""

import hashlib
from datetime import date, datetime
from typing import Any
from uuid import uuid4

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from storage.types import UtcDateTime


def new_id() -> str:
    return uuid4().hex


def external_key(external_id: str | None) -> str | None:
    """The unique index's stand-in for `external_id`: its SHA-256, 64 hex characters.

    An `external_id` may be 1,000 characters of up to 4 bytes each, more than a btree index
    entry holds on PostgreSQL (2,704 bytes); a fixed-size key fits on every backend, and two
    different ids do not meet in it.
    """
    return hashlib.sha256(external_id.encode()).hexdigest() if external_id else None


def _utc(**kwargs: Any) -> Any:
    return Field(sa_type=UtcDateTime, **kwargs)


class LeadFields(SQLModel):
    """Everything Marketing hands over about a lead, as the agreement lists it."""

    external_id: str | None = Field(default=None, max_length=1000)
    name: str = Field(max_length=1000)
    email: str = Field(max_length=1000)
    company: str = Field(max_length=1000)
    title: str | None = Field(default=None, max_length=1000)
    phone: str | None = Field(default=None, max_length=1000)
    country: str | None = Field(default=None, max_length=2)
    industry: str | None = Field(default=None, max_length=1000)
    buying_stage: str | None = Field(default=None, max_length=1000)
    source: str | None = Field(default=None, max_length=1000)
    challenges: str | None = Field(default=None, sa_type=Text)
    budget: str | None = Field(default=None, max_length=1000)
    employees: int | None = None
    revenue: float | None = None
    profit: float | None = None
    activity: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))


class Lead(LeadFields, table=True):
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    external_key: str | None = Field(default=None, max_length=64)  # `external_key(external_id)`
    qualified: bool
    reasons: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))
    """Why it is not qualified: `{"code", "facts"}` per failed rule (`bot.rules`)."""
    stage: str = Field(max_length=32)
    owner: str | None = Field(default=None, max_length=32, index=True)
    handed_over_by: str = Field(max_length=64)
    received_at: datetime = _utc(index=True)
    claimed_at: datetime | None = _utc(default=None)
    contacted_at: datetime | None = _utc(default=None)
    card_platform: str | None = Field(default=None, max_length=16)
    card_conversation: str | None = Field(default=None, max_length=32)
    card_message_id: str | None = Field(default=None, max_length=32)
    """Where the lead's card is: the platform, its conversation, its message id there."""
    card_at: datetime | None = _utc(default=None)
    """When the card was first in the sales channel: the claim and contact clocks start then."""
    recheck_on: date | None = Field(default=None, index=True)
    forgotten_at: datetime | None = _utc(default=None)

    # The scorecard counts and measures a window of leads by these columns alone: with them
    # in the index, the database answers from the index instead of visiting a million wide
    # rows (`id` leads on to the clocks and feedback). `source` stays out: up to 1,000
    # characters is more than a PostgreSQL index entry holds.
    __table_args__ = (
        Index("uq_lead_external_key", "external_key", unique=True),
        Index(
            "ix_lead_received_at_report",
            "received_at",
            "qualified",
            "stage",
            "claimed_at",
            "card_at",
            "contacted_at",
            "owner",
            "id",
        ),
        # The leads at a stage with their ids: those waiting for feedback reach their clocks.
        Index("ix_lead_stage", "stage", "id"),
        # An import asks, a chunk at a time, which of its people are already open leads.
        Index("ix_lead_email_lower", text("lower(email)")),
    )


class Person(SQLModel, table=True):
    """A person on the chat platform and a role the agreement gives them (kept in step with
    agreement.yml)."""

    user_id: str = Field(primary_key=True, max_length=32)
    role: str = Field(primary_key=True, max_length=32)


class Event(SQLModel, table=True):
    """Who did what to which lead, when. Never updated, never deleted."""

    id: int | None = Field(default=None, primary_key=True)
    lead_id: str | None = Field(default=None, foreign_key="lead.id", index=True, max_length=32)
    at: datetime = _utc(index=True)
    actor: str = Field(max_length=64)
    kind: str = Field(max_length=32, index=True)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))


class Deadline(SQLModel, table=True):
    """One clock of one lead (claim, contact, feedback); `next_at` is when it next needs work."""

    id: int | None = Field(default=None, primary_key=True)
    lead_id: str = Field(foreign_key="lead.id", max_length=32)
    kind: str = Field(max_length=16)
    opened_at: datetime = _utc()
    due_at: datetime = _utc()
    remind_at: datetime | None = _utc(default=None)
    reminded_at: datetime | None = _utc(default=None)
    steps_done: int = 0
    next_at: datetime | None = _utc(default=None)
    resolved_at: datetime | None = _utc(default=None)
    breached_at: datetime | None = _utc(default=None)
    extended_at: datetime | None = _utc(default=None)
    extension_reason: str | None = Field(default=None, max_length=1000)

    __table_args__ = (
        Index("ix_deadline_next_at", "next_at"),
        # A lead's clocks with their kind and state, for the scorecard without the rows.
        Index(
            "ix_deadline_lead_id",
            "lead_id",
            "kind",
            "resolved_at",
            "breached_at",
            postgresql_include=["id"],
        ),
    )


class Breach(SQLModel, table=True):
    """A deadline that passed: which clock, who owned the lead, when it fell due and was met."""

    id: int | None = Field(default=None, primary_key=True)
    deadline_id: int = Field(foreign_key="deadline.id", index=True)
    lead_id: str = Field(foreign_key="lead.id", index=True, max_length=32)
    kind: str = Field(max_length=16)
    owner: str | None = Field(default=None, max_length=32)
    due_at: datetime = _utc(index=True)
    recorded_at: datetime = _utc()
    resolved_at: datetime | None = _utc(default=None)


class Outbox(SQLModel, table=True):
    """A message stored with the change that causes it, delivered once by a worker.

    `recipient` is whom it is for as queued: a person or a conversation, or None for a
    lead's card and thread. Once delivered, `platform`, `conversation` and `message_id` say
    where it landed (a DM's conversation is the one the platform opened for the person).
    """

    id: int | None = Field(default=None, primary_key=True)
    lead_id: str | None = Field(default=None, foreign_key="lead.id", index=True, max_length=32)
    kind: str = Field(max_length=16)
    recipient: str | None = Field(default=None, max_length=32)
    priority: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    """Smaller goes first: a lead handed over now before a bulk import (`bot.messages`)."""
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    created_at: datetime = _utc()
    next_attempt_at: datetime | None = _utc(default=None)
    taken_until: datetime | None = _utc(default=None)
    attempts: int = 0
    sent_at: datetime | None = _utc(default=None)
    platform: str | None = Field(default=None, max_length=16)
    conversation: str | None = Field(default=None, max_length=32)
    message_id: str | None = Field(default=None, max_length=32)
    error: str | None = Field(default=None, max_length=1000)

    __table_args__ = (Index("ix_outbox_next_attempt_at", "next_attempt_at"),)


class Digest(SQLModel, table=True):
    """One message that names several leads for one person (or the sales channel), kept up to
    date in place: the notices for one recipient within one bucket of time, posted as one
    message (`platform`, `conversation`, `message_id` once it is posted).

    `version` counts the changes to what it names; `shown` is the version the platform shows. While
    `queued`, one outbox row (its post, or its next update) is pending and will show the
    latest version, so a change never queues a second row: updates of one digest go out one
    at a time, in order.
    """

    id: int | None = Field(default=None, primary_key=True)
    recipient: str = Field(max_length=32)
    bucket: datetime = _utc()
    opened_at: datetime = _utc(index=True)
    platform: str | None = Field(default=None, max_length=16)
    conversation: str | None = Field(default=None, max_length=32)
    message_id: str | None = Field(default=None, max_length=32)
    version: int = 0
    shown: int = 0
    queued: bool = False
    updated_at: datetime | None = _utc(default=None)

    __table_args__ = (UniqueConstraint("recipient", "bucket", name="uq_digest_bucket"),)


class DigestItem(SQLModel, table=True):
    """One reminder or escalation step of one clock, named in one digest, once."""

    id: int | None = Field(default=None, primary_key=True)
    digest_id: int = Field(foreign_key="digest.id", index=True)
    lead_id: str = Field(foreign_key="lead.id", index=True, max_length=32)
    deadline_id: int = Field(foreign_key="deadline.id")
    kind: str = Field(max_length=16)
    clock: str = Field(max_length=16)
    step: int = 0
    due_at: datetime = _utc()
    planned_at: datetime = _utc()
    added_at: datetime = _utc()
    shown_at: datetime | None = _utc(default=None)
    facts: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))

    __table_args__ = (
        UniqueConstraint("deadline_id", "kind", "step", "due_at", name="uq_digestitem_notice"),
    )


class Feedback(SQLModel, table=True):
    """What Sales tells Marketing about one lead, in a form Marketing can act on."""

    id: int | None = Field(default=None, primary_key=True)
    lead_id: str = Field(foreign_key="lead.id", index=True, max_length=32)
    by: str = Field(max_length=32)
    at: datetime = _utc(index=True)
    outcome: str = Field(max_length=16)
    reason: str | None = Field(default=None, max_length=1000)
    missed_rules: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    note: str | None = Field(default=None, sa_type=Text)
    recheck_on: date | None = None


class InboundEvent(SQLModel, table=True):
    """Event ids a chat platform delivered and Baton handled, so a retried delivery is
    acknowledged and skipped."""

    platform: str = Field(primary_key=True, max_length=16)
    event_id: str = Field(primary_key=True, max_length=64)
    received_at: datetime = _utc(index=True)


class DirectoryEntry(SQLModel, table=True):
    """An email address the agreement names a person by, as the chat platform resolved it.

    Kept so that start-up and `baton check` ask the platform only about addresses not seen
    yet, and a replica starting while the platform is unreachable still knows its people.
    """

    platform: str = Field(primary_key=True, max_length=16)
    email: str = Field(primary_key=True, max_length=320)
    """Lower case: addresses are matched without regard to letter case."""
    user_id: str = Field(max_length=64)
    resolved_at: datetime = _utc()
