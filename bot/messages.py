"""What Baton has to say, queued in the outbox in the same transaction as the change behind it.

The domain names a template and its facts; the front end renders and delivers them, so a
lead is never committed without its card, and a card never goes out for a rolled-back lead.
"""

from datetime import datetime
from typing import Any

from sqlmodel import Session

from storage import outbox

CARD, REPLY, DIRECT, POST, ERASE = "card", "reply", "dm", "post", "erase"
DIGEST, DIGEST_UPDATE = "digest", "digest_update"
"""A digest's post, and an update of it in place; see `bot.digests`."""

URGENT, BULK = 0, 1
"""How soon a message goes, among those due: everything someone is waiting for is urgent; the
cards and verdicts of a bulk import (`baton import`) go when nothing urgent is waiting, so a
lead handed over through the API or Slack is never stuck behind a thousand imported ones."""


def priority(by: str) -> int:
    """The priority of what a hand-over `by` this source queues."""
    return BULK if by == "csv" else URGENT


def refresh_card(*, session: Session, lead_id: str, at: datetime) -> None:
    """Post the lead's card, or update it in place once it has been posted."""
    queue(session=session, rows=[card(lead_id=lead_id, at=at)])


def card(*, lead_id: str, at: datetime, priority: int = URGENT) -> dict[str, Any]:
    """`refresh_card` as a row, for `queue`."""
    return outbox.row(kind=CARD, lead_id=lead_id, at=at, priority=priority)


def queue(*, session: Session, rows: list[dict[str, Any]]) -> None:
    """Queue `card()` and `said()` rows together, in list order."""
    outbox.enqueue_all(session=session, rows=rows)


def said(
    kind: str,
    /,
    *,
    template: str,
    at: datetime,
    lead_id: str | None = None,
    recipient: str | None = None,
    priority: int = URGENT,
    **facts: Any,
) -> dict[str, Any]:
    """A row that says `template` with its `facts`, for `queue`: a reply in the lead's
    thread, a DM to the user `recipient` or a post in the conversation `recipient`."""
    return outbox.row(
        kind=kind,
        lead_id=lead_id,
        recipient=recipient,
        at=at,
        payload={"template": template, "facts": facts},
        priority=priority,
    )


def reply_in_thread(
    *, session: Session, lead_id: str, template: str, at: datetime, **facts: Any
) -> None:
    queue(session=session, rows=[said(REPLY, template=template, at=at, lead_id=lead_id, **facts)])


def direct(
    *,
    session: Session,
    user: str,
    template: str,
    at: datetime,
    lead_id: str | None = None,
    **facts: Any,
) -> None:
    queue(
        session=session,
        rows=[said(DIRECT, recipient=user, template=template, at=at, lead_id=lead_id, **facts)],
    )


def post(
    *,
    session: Session,
    conversation: str,
    template: str,
    at: datetime,
    lead_id: str | None = None,
    **facts: Any,
) -> None:
    queue(
        session=session,
        rows=[
            said(POST, recipient=conversation, template=template, at=at, lead_id=lead_id, **facts)
        ],
    )


def erase(*, session: Session, conversation: str, message_id: str, at: datetime) -> None:
    """Rewrite a message already posted to "removed on request"; it names no lead, on purpose."""
    row = outbox.row(kind=ERASE, recipient=conversation, at=at, payload={"message_id": message_id})
    queue(session=session, rows=[row])


def digest(
    *,
    session: Session,
    digest_id: int,
    recipient: str,
    at: datetime,
    update: bool,
    not_before: datetime | None = None,
) -> None:
    """Post a digest, or (`update`) bring the posted one up to date, no sooner than `not_before`.

    The row names the digest, not what it says: the courier renders it as it stands when the
    row goes out, so the changes made while it waited all go in one message.
    """
    row = outbox.row(
        kind=DIGEST_UPDATE if update else DIGEST,
        recipient=recipient,
        at=at,
        payload={"digest": digest_id},
    )
    if not_before is not None and not_before > at:
        row["next_attempt_at"] = not_before
    outbox.enqueue_all(session=session, rows=[row])
