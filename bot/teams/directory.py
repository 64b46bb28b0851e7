"""The people Teams introduced, found by email address (`bot.people.Directory`).

A bot cannot look a person up by address in Teams (Graph's user directory would need an
admin's consent to `User.Read.All` for that alone); Teams gives each member's email with the
app's installation and its roster (`conversationUpdate`), which Baton keeps
(`storage.conversations`). An address is found once its owner was introduced.
"""

from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from storage import conversations

PLATFORM = "teams"


class TeamsDirectory:
    platform = PLATFORM

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def user_by_email(self, email: str) -> str | None:
        address = email.strip().lower()
        with self.sessions() as session:
            return conversations.by_email(session, PLATFORM, [address]).get(address)
