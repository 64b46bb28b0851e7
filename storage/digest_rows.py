"""Digests and the notices they name. Callers own the transaction; nothing here commits.

A digest is found or made by its key (recipient, bucket) with an insert that does nothing
on a conflict, so two replicas that add notices for one person at once converge on one row.
Every change of a digest starts with `touch`, an UPDATE that locks the row: the changes of one
digest (new notices, a lead resolved, Slack showing a version) thereby happen one at a time.
"""

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, func, insert, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from storage.db import connection
from storage.models import Deadline, Digest, DigestItem, Lead

_INSERT_ITEM = insert(DigestItem.__table__)


def open_digest(*, session: Session, recipient: str, bucket: datetime, at: datetime) -> int:
    """The id of the digest for this recipient and bucket, made if there is none yet."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(
        dialect.insert(Digest.__table__)
        .values(
            recipient=recipient,
            bucket=bucket,
            opened_at=at,
            version=0,
            shown=0,
            queued=False,
        )
        .on_conflict_do_nothing(index_elements=["recipient", "bucket"])
    )
    return session.execute(
        select(Digest.id).where(Digest.recipient == recipient, Digest.bucket == bucket)
    ).scalar_one()


def touch(*, session: Session, digest_id: int) -> Digest:
    """One more change: lock the digest, count the change, and return it as it now stands."""
    session.execute(
        update(Digest)
        .where(col(Digest.id) == digest_id)
        .values(version=Digest.version + 1)
        .execution_options(synchronize_session=False)
    )
    return _fresh(session, digest_id)


def _fresh(session: Session, digest_id: int) -> Digest:
    return session.exec(
        select(Digest).where(Digest.id == digest_id).execution_options(populate_existing=True)
    ).one()


def add_items(*, session: Session, items: list[dict[str, Any]]) -> None:
    if items:
        session.execute(_INSERT_ITEM, items)


def count_items(*, session: Session, digest_id: int) -> int:
    return session.exec(
        select(func.count()).select_from(DigestItem).where(DigestItem.digest_id == digest_id)
    ).one()


def set_queued(*, session: Session, digest_id: int, queued: bool) -> None:
    session.execute(
        update(Digest)
        .where(col(Digest.id) == digest_id)
        .values(queued=queued)
        .execution_options(synchronize_session=False)
    )


_DIGESTS = Digest.__table__
_ITEMS = DigestItem.__table__


def _naming(leads_named: ColumnElement[bool]) -> Select:
    return (
        select(_DIGESTS.c.id, _DIGESTS.c.recipient, _DIGESTS.c.bucket)
        .where(
            _DIGESTS.c.id.in_(select(_ITEMS.c.digest_id).where(leads_named)),
            _DIGESTS.c.opened_at >= bindparam("since"),
        )
        .order_by(_DIGESTS.c.recipient, _DIGESTS.c.bucket)
    )


_NAMING_ONE = _naming(_ITEMS.c.lead_id == bindparam("naming_lead"))
_NAMING_MANY = _naming(_ITEMS.c.lead_id.in_(bindparam("naming_leads", expanding=True)))
"""`naming`, built once: a click changes one lead, and claims decided together several,
and each asks this before its commit; one lead's without a list to expand."""


def naming(
    *, session: Session, lead_ids: Collection[str], since: datetime
) -> list[tuple[int, str, datetime]]:
    """The digests opened since `since` that name any of these leads: (id, recipient,
    bucket), in the order every transaction locks digests in."""
    if not lead_ids:
        return []
    on = connection(session)
    if len(lead_ids) == 1:
        (lead_id,) = lead_ids
        rows = on.execute(_NAMING_ONE, {"naming_lead": lead_id, "since": since}).all()
    else:
        rows = on.execute(_NAMING_MANY, {"naming_leads": list(lead_ids), "since": since}).all()
    return [(digest_id, recipient, bucket) for digest_id, recipient, bucket in rows]


def shown(
    *,
    session: Session,
    digest_id: int,
    version: int,
    at: datetime,
    item_ids: Collection[int],
    posted: tuple[str, str, str] | None = None,
) -> Digest:
    """The platform shows `version` (and, after the post, where: `posted` is the platform,
    the conversation and the message id): record it; return the digest."""
    if posted is not None:
        platform, conversation, message_id = posted
        session.execute(
            update(Digest)
            .where(col(Digest.id) == digest_id)
            .values(platform=platform, conversation=conversation, message_id=message_id)
            .execution_options(synchronize_session=False)
        )
    session.execute(
        update(Digest)
        .where(col(Digest.id) == digest_id, col(Digest.shown) <= version)
        .values(updated_at=at, shown=version)
        .execution_options(synchronize_session=False)
    )
    if item_ids:
        session.execute(
            update(DigestItem)
            .where(col(DigestItem.id).in_(item_ids), col(DigestItem.shown_at).is_(None))
            .values(shown_at=at)
            .execution_options(synchronize_session=False)
        )
    return _fresh(session, digest_id)


def get(*, session: Session, digest_id: int) -> Digest | None:
    return session.get(Digest, digest_id)


def items_of(*, session: Session, digest_id: int) -> list[tuple[DigestItem, Lead, Deadline]]:
    """What the digest names, in the order the notices came, with each lead and clock as they
    stand now."""
    rows = session.exec(
        select(DigestItem, Lead, Deadline)
        .join(Lead, col(Lead.id) == DigestItem.lead_id)
        .join(Deadline, col(Deadline.id) == DigestItem.deadline_id)
        .where(DigestItem.digest_id == digest_id)
        .order_by(col(DigestItem.id))
    ).all()
    return [(item, lead, clock) for item, lead, clock in rows]
