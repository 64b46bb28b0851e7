"""Pipedrive's API, the calls Baton makes: read a person, an organization or a lead, and
write back the owner, the lead's label and a note. Persons and organizations are read and
changed through API v2; leads, lead labels, users and notes have only v1 endpoints.

An API token (a user's, Settings → Personal preferences → API, ideally an admin's so every
person is visible) goes in the `x-api-token` header, never in the URL.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bot.crm.errors import Permanent
from bot.crm.http import TIMEOUT, Client, error_text
from bot.crm.mapping import ObjectRef

DEFAULT_URL = "https://api.pipedrive.com"
ABSENT = frozenset({404, 410})


class Pipedrive(Client):
    """One Pipedrive company; `base_url` points at Pipedrive, or at a local stand-in in tests."""

    crm = "pipedrive"

    def __init__(self, token: str, base_url: str = DEFAULT_URL, *, timeout: float = TIMEOUT):
        super().__init__(token, base_url, timeout=timeout)
        self._users: dict[str, int] = {}
        self._labels: dict[str, str] | None = None

    @staticmethod
    def credentials(token: str) -> dict[str, str]:
        return {"x-api-token": token}

    @staticmethod
    def describe(response: httpx.Response) -> str:
        return error_text(response, "error", "error_info")

    @staticmethod
    def waiting(response: httpx.Response) -> timedelta | None:
        """Pipedrive's 429 says when its window resets (`x-ratelimit-reset`, in seconds)."""
        reset = response.headers.get("x-ratelimit-reset", "")
        return timedelta(seconds=int(reset)) if reset.isdigit() else None

    def _data(self, method: str, path: str, **kwargs: Any) -> Any:
        found = self.api.call(method, path, **kwargs)
        return found.get("data") if isinstance(found, dict) else None

    def probe(self) -> str:
        """Check the token (`baton check`); the company's Pipedrive domain it belongs to.
        `Permanent` if Pipedrive refuses it, `Transient` if Pipedrive cannot be reached."""
        me = self._data("GET", "/v1/users/me") or {}
        return str(me.get("company_domain") or "")

    # reading -----------------------------------------------------------------------------

    def person(self, person_id: int | str) -> dict[str, Any] | None:
        return self._data("GET", f"/api/v2/persons/{person_id}", absent=ABSENT)

    def organization(self, org_id: int | str) -> dict[str, Any] | None:
        return self._data("GET", f"/api/v2/organizations/{org_id}", absent=ABSENT)

    def lead(self, lead_id: str) -> dict[str, Any] | None:
        return self._data("GET", f"/v1/leads/{lead_id}", absent=ABSENT)

    def user(self, email: str) -> int:
        """The id of the active Pipedrive user with this e-mail; `Permanent` if none."""
        key = email.strip().casefold()
        if key not in self._users:
            found = self._data(
                "GET", "/v1/users/find", params={"term": email, "search_by_email": 1}
            )
            users = [
                u
                for u in found or []
                if str(u.get("email", "")).casefold() == key and u.get("active_flag", True)
            ]
            if not users:
                raise Permanent(self.crm, f"no active Pipedrive user has the e-mail {email}")
            self._users[key] = int(users[0]["id"])
        return self._users[key]

    def labels(self) -> dict[str, str]:
        """The company's lead labels, by name (case-folded) to id; read once."""
        if self._labels is None:
            found = self._data("GET", "/v1/leadLabels") or []
            self._labels = {str(label["name"]).casefold(): str(label["id"]) for label in found}
        return self._labels

    # writing back ------------------------------------------------------------------------

    def set_owner(self, ref: ObjectRef, email: str) -> None:
        """Make the seller (by e-mail) the owner of the person or lead."""
        owner = self.user(email)
        if ref.kind == "lead":
            self._data("PATCH", f"/v1/leads/{ref.id}", json={"owner_id": owner})
        else:
            self._data("PATCH", f"/api/v2/persons/{ref.id}", json={"owner_id": owner})

    def set_status(self, ref: ObjectRef, label: str, others: Iterable[str] = ()) -> None:
        """Give a lead the label named `label`, taking off those named in `others` (the other
        statuses) and keeping any other label it has. A person has no lead label: nothing."""
        if ref.kind != "lead":
            return
        lead_id = ref.id
        labels = self.labels()
        if label.casefold() not in labels:
            known = ", ".join(sorted(labels)) or "none"
            raise Permanent(self.crm, f'no lead label is named "{label}" (there are: {known})')
        lead = self.lead(lead_id)
        if lead is None:
            raise Permanent(self.crm, f"lead {lead_id} is gone", status=404)
        gone = {labels[name.casefold()] for name in others if name.casefold() in labels}
        kept = [i for i in lead.get("label_ids") or [] if i not in gone]
        wanted = labels[label.casefold()]
        self._data(
            "PATCH",
            f"/v1/leads/{lead_id}",
            json={"label_ids": [*[i for i in kept if i != wanted], wanted]},
        )

    def find_note(self, ref: ObjectRef, stamp: str) -> int | None:
        """The id of a note on the person or lead whose content holds `stamp`, if any."""
        start = 0
        while True:
            found = self.api.call(
                "GET",
                "/v1/notes",
                params={f"{ref.kind}_id": ref.id, "start": start, "limit": 500},
            )
            for item in (found or {}).get("data") or []:
                if stamp in str(item.get("content") or ""):
                    return int(item["id"])
            paging = ((found or {}).get("additional_data") or {}).get("pagination") or {}
            if not paging.get("more_items_in_collection"):
                return None
            start = int(paging.get("next_start") or start + 500)

    def add_note(self, ref: ObjectRef, body: str, at: datetime) -> int:
        """Put a note (HTML) on the person or lead, dated `at`; its id."""
        target: dict[str, Any] = {"lead_id": ref.id}
        if ref.kind == "person":
            target = {"person_id": int(ref.id)}
        when = at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
        created = self._data(
            "POST", "/v1/notes", json={"content": body, "add_time": when, **target}
        )
        return int(created["id"])
