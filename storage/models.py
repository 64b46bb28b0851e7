"""Tables. Leads hold their current state; `Event` is the append-only history behind it."""

import hashlib
from datetime import date, datetime
from typing import Any
from uuid import uuid4

from sqlalchemy import JSON, BigInteger, Column, Index, Text, UniqueConstraint, text
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


def source_key(source: str | None) -> int | None:
    """A lead's source as a number the report index can hold: the first 8 bytes of its
    BLAKE2b digest, as a signed 64-bit integer.

    A source may be 1,000 characters, more than a PostgreSQL index entry holds, so the
    scorecard counts by this number from the index alone and reads a source's text once per
    source; two different sources meet in it with a chance of about one in 10^19.
    """
    if source is None:
        return None
    digest = hashlib.blake2b(source.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _source_key_of_row(context: Any) -> int | None:
    # Every insert computes it, ORM or Core: the source is never changed after it.
    return source_key(context.get_current_parameters().get("source"))


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
    owner: str | None = Field(default=None, max_length=64, index=True)
    handed_over_by: str = Field(max_length=64)
    received_at: datetime = _utc(index=True)
    claimed_at: datetime | None = _utc(default=None)
    contacted_at: datetime | None = _utc(default=None)
    card_platform: str | None = Field(default=None, max_length=16)
    card_conversation: str | None = Field(default=None, max_length=255)
    card_message_id: str | None = Field(default=None, max_length=255)
    """Where the lead's card is: the platform, its conversation, its message id there."""
    card_at: datetime | None = _utc(default=None)
    """When the card was first in the sales channel: the claim and contact clocks start then."""
    recheck_on: date | None = Field(default=None, index=True)
    paused_at: datetime | None = _utc(default=None)
    """When the owner paused the lead's clocks (once per lead: `bot.pause`)."""
    paused_until: datetime | None = _utc(default=None)
    paused_by: str | None = Field(default=None, max_length=64)
    pause_reason: str | None = Field(default=None, max_length=64)
    """The code of one of the agreement's `pause.reasons`; None when a note says why."""
    pause_note: str | None = Field(default=None, max_length=1000)
    forgotten_at: datetime | None = _utc(default=None)
    source_key: int | None = Field(
        default=None, sa_type=BigInteger, sa_column_kwargs={"default": _source_key_of_row}
    )
    """`source_key(source)`, set on insert; Baton never changes a lead's source, and whatever
    does must set this with it (the scorecard counts by source with it)."""

    # The scorecard counts and measures a window of leads by these columns alone: with them
    # in the index, the database answers from the index instead of visiting a million wide
    # rows (`id` leads on to the clocks and feedback). `source` stays out: up to 1,000
    # characters is more than a PostgreSQL index entry holds; `source_key` stands in for it.
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
            "source_key",
        ),
        # The leads at a stage with their ids: those waiting for feedback reach their clocks.
        Index("ix_lead_stage", "stage", "id"),
        # An import asks, a chunk at a time, which of its people are already open leads.
        Index("ix_lead_email_lower", text("lower(email)")),
        # Routing counts each seller's open leads for every decision: from the index alone.
        Index("ix_lead_stage_owner", "stage", "owner"),
        # The scorecard's pauses by reason: the few paused leads, not every lead.
        Index(
            "ix_lead_paused",
            "paused_at",
            "pause_reason",
            sqlite_where=text("paused_at IS NOT NULL"),
            postgresql_where=text("paused_at IS NOT NULL"),
        ),
    )


class Person(SQLModel, table=True):
    """A person on the chat platform and a role the agreement gives them (kept in step with
    agreement.yml)."""

    user_id: str = Field(primary_key=True, max_length=64)
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
    reassigned_at: datetime | None = _utc(default=None)
    """When `consequences.reassign_after` came for this clock (it went to another seller, or
    nobody was available): it comes once."""

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
        # The feedback clocks still open, for the scorecard's overdue feedback: a few
        # thousand entries instead of every clock (PostgreSQL read them all; SQLite's planner
        # keeps its look-up of each waiting lead's clocks in `ix_deadline_lead_id`).
        Index(
            "ix_deadline_feedback_open",
            "lead_id",
            "breached_at",
            sqlite_where=text("kind = 'feedback' AND resolved_at IS NULL"),
            postgresql_where=text("kind = 'feedback' AND resolved_at IS NULL"),
        ),
    )


class Consequence(SQLModel, table=True):
    """A consequence of the agreement that Baton applied, once: `key` names the occasion
    (`reassign:<deadline>`, `out_of_rotation:<seller>:<episode>`, `shortfall:<week>`), and
    the unique index lets only one process record it, however many try."""

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=200)
    kind: str = Field(max_length=32, index=True)
    at: datetime = _utc(index=True)
    lead_id: str | None = Field(default=None, foreign_key="lead.id", index=True, max_length=32)
    subject: str | None = Field(default=None, max_length=64)
    """Whom it concerns: the seller taken out of rotation, the seller a lead went to."""
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))

    __table_args__ = (Index("uq_consequence_key", "key", unique=True),)


class Breach(SQLModel, table=True):
    """A deadline that passed: which clock, who owned the lead, when it fell due and was met."""

    id: int | None = Field(default=None, primary_key=True)
    deadline_id: int = Field(foreign_key="deadline.id", index=True)
    lead_id: str = Field(foreign_key="lead.id", index=True, max_length=32)
    kind: str = Field(max_length=16)
    owner: str | None = Field(default=None, max_length=64)
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
    recipient: str | None = Field(default=None, max_length=255)
    priority: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    """Smaller goes first: a lead handed over now before a bulk import (`bot.messages`)."""
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    created_at: datetime = _utc()
    next_attempt_at: datetime | None = _utc(default=None)
    taken_until: datetime | None = _utc(default=None)
    attempts: int = 0
    sent_at: datetime | None = _utc(default=None)
    platform: str | None = Field(default=None, max_length=16)
    conversation: str | None = Field(default=None, max_length=255)
    message_id: str | None = Field(default=None, max_length=255)
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
    recipient: str = Field(max_length=255)
    bucket: datetime = _utc()
    opened_at: datetime = _utc(index=True)
    platform: str | None = Field(default=None, max_length=16)
    conversation: str | None = Field(default=None, max_length=255)
    message_id: str | None = Field(default=None, max_length=255)
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
    by: str = Field(max_length=64)
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
    event_id: str = Field(primary_key=True, max_length=255)
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


class ConversationRef(SQLModel, table=True):
    """Where a conversation on a chat platform is served, as the platform said when the app
    was installed there or spoken to: what a message to it, or a lookup in it, needs.

    Teams serves each conversation from the `service_url` it gave with it; a channel's
    messages are read through Graph with its team (`team_id`, Teams' `aadGroupId`) and
    channel, a 1:1's with Graph's `chat_id`.
    """

    platform: str = Field(primary_key=True, max_length=16)
    conversation_id: str = Field(primary_key=True, max_length=255)
    kind: str | None = Field(default=None, max_length=16)
    """"channel", "personal" (a 1:1 with the bot) or "groupChat"."""
    service_url: str | None = Field(default=None, max_length=1000)
    tenant_id: str | None = Field(default=None, max_length=64)
    team_id: str | None = Field(default=None, max_length=64)
    channel_id: str | None = Field(default=None, max_length=255)
    chat_id: str | None = Field(default=None, max_length=255)
    updated_at: datetime = _utc()
    removed_at: datetime | None = _utc(default=None)
    """When the app was removed from this channel's team (or this group chat): nothing is
    posted there until the platform tells of it again."""


class ChatPerson(SQLModel, table=True):
    """A person as the chat platform introduced them (installation, roster, a message).

    `user_id` is the id the agreement and the leads name them by (on Teams their Entra object
    id); `account_id` is the platform's own id for them in conversations with the bot (Teams'
    `29:…`), which opening a 1:1 takes; `conversation_id` is that 1:1 once known.
    """

    platform: str = Field(primary_key=True, max_length=16)
    user_id: str = Field(primary_key=True, max_length=64)
    account_id: str | None = Field(default=None, max_length=255)
    conversation_id: str | None = Field(default=None, max_length=255)
    name: str | None = Field(default=None, max_length=1000)
    email: str | None = Field(default=None, max_length=320)
    """Lower case, as `DirectoryEntry.email`."""
    tenant_id: str | None = Field(default=None, max_length=64)
    service_url: str | None = Field(default=None, max_length=1000)
    updated_at: datetime = _utc()

    __table_args__ = (Index("ix_chatperson_email", "platform", "email"),)


class ChatRoster(SQLModel, table=True):
    """A count of the changes to the people a platform introduced (`ChatPerson`): each
    replica keeps who it found known and their names, and reads them again when it moved."""

    platform: str = Field(primary_key=True, max_length=16)
    version: int = Field(default=0, sa_type=BigInteger)


class SellerStatus(SQLModel, table=True):
    """A seller's availability for new leads, and their place in the rotation (`bot.routing`).

    A seller with no row is available and has not been chosen yet. `turns` counts the leads
    Baton gave them, each as 1/weight; None means "back in the rotation": the next choice
    sets it level with the colleagues in rotation, so nobody catches up with a flood of leads
    after an absence. `load_offset` does the same for `least_loaded`: the open leads (per unit
    of weight) they were behind the least loaded colleague at their return, counted as held
    until the others' backlog has come down to theirs.
    """

    user_id: str = Field(primary_key=True, max_length=64)
    away_since: datetime | None = _utc(default=None)
    away_until: datetime | None = _utc(default=None)
    """When the absence ends; None while away means until `/baton back`."""
    out_of_rotation_since: datetime | None = _utc(default=None)
    out_of_rotation_reason: str | None = Field(default=None, max_length=1000)
    counts_from: datetime | None = _utc(default=None)
    """When fairness counts from: the seller's last return to the rotation."""
    turns: float | None = None
    load_offset: float | None = None
    updated_at: datetime | None = _utc(default=None)
