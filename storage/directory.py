"""The cache of email addresses resolved to a chat platform's user ids (`bot.people`)."""

from datetime import datetime

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from storage.models import DirectoryEntry


def cached(*, session: Session, platform: str, emails: list[str]) -> dict[str, str]:
    """Address -> user id, for the addresses resolved before."""
    if not emails:
        return {}
    rows = session.exec(
        select(DirectoryEntry).where(
            DirectoryEntry.platform == platform, col(DirectoryEntry.email).in_(emails)
        )
    )
    return {row.email: row.user_id for row in rows}


def remember(*, session: Session, platform: str, email: str, user_id: str, at: datetime) -> None:
    """Keep what the platform answered; replicas starting together may both write it."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    values = {"platform": platform, "email": email, "user_id": user_id, "resolved_at": at}
    statement = insert(DirectoryEntry).values(**values)
    session.exec(  # type: ignore[call-overload]
        statement.on_conflict_do_update(
            index_elements=["platform", "email"],
            set_={"user_id": user_id, "resolved_at": at},
        )
    )
