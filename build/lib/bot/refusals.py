"""Why Baton says no, as data: the front end words it for the person who asked."""

from typing import Any


class Refused(Exception):
    """An action that the agreement or the lead's state does not allow; nothing was changed.

    `reason` names a notice template section (see `templates/notice.json.j2`), `details`
    fills it, so a team can reword every refusal without touching Python.
    """

    def __init__(self, reason: str, **details: Any) -> None:
        self.reason = reason
        self.details = details
        super().__init__(reason, details)
