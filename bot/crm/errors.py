"""What can go wrong between Baton and a CRM, sorted the way the outbox acts on it.

The outbox worker does one of three things with a failed write-back: it tries again later
with a backoff (`Transient`), it holds every call to that CRM until a time the CRM named
(`RateLimited`), or it gives the row up as a dead letter that only an operator can revive
(`Permanent`). The Slack courier sorts Slack's answers the same way (retry, `_Held`,
`Undeliverable`); these classes let a CRM transport hand the worker the same three answers.
"""

from __future__ import annotations

from datetime import timedelta


class CrmError(Exception):
    """A CRM call that did not do what it was asked; `crm` and `status` say where and how."""

    def __init__(self, crm: str, message: str, *, status: int | None = None) -> None:
        super().__init__(f"{crm}: {message}")
        self.crm = crm
        self.status = status
        self.message = message


class Transient(CrmError):
    """The CRM is down, slow or unreachable (a 5xx, a timeout, a dropped connection).

    The request may or may not have been carried out, so a retry of a call that creates
    something (a note) looks for it first."""


class RateLimited(Transient):
    """The CRM answered 429: nothing more goes to it before `retry_after` has passed."""

    def __init__(self, crm: str, message: str, *, retry_after: timedelta) -> None:
        super().__init__(crm, message, status=429)
        self.retry_after = retry_after


class Permanent(CrmError):
    """Another attempt cannot succeed: a refused token, a missing scope, a deleted contact,
    a seller with no CRM user, a request the CRM calls invalid. A dead letter."""
