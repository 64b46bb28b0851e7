"""HubSpot's CRM API, the calls Baton makes: read a contact or a deal, and write back the
owner, the lead status and a note. A private app token with the scopes
`crm.objects.contacts.read`, `crm.objects.contacts.write`, `crm.objects.deals.read` and
`crm.objects.owners.read` covers them all.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import httpx

from bot.crm.errors import Permanent
from bot.crm.http import TIMEOUT, Client, error_text
from bot.crm.mapping import ObjectRef, Won

DEFAULT_URL = "https://api.hubapi.com"
NOTE_TO_CONTACT = 202  # HubSpot's association type id for a note on a contact
DEAL_PROPERTIES = ("amount", "deal_currency_code", "hs_is_closed_won", "dealstage", "dealname")
_POLICY_WAIT = {"SECONDLY": 1, "TEN_SECONDLY_ROLLING": 10, "DAILY": 3600}


class HubSpot(Client):
    """One HubSpot account; `base_url` points at HubSpot, or at a local stand-in in tests."""

    crm = "hubspot"

    def __init__(self, token: str, base_url: str = DEFAULT_URL, *, timeout: float = TIMEOUT):
        super().__init__(token, base_url, timeout=timeout)
        self._owners: dict[str, str] = {}

    @staticmethod
    def credentials(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    @staticmethod
    def describe(response: httpx.Response) -> str:
        return error_text(response, "message", "category")

    @staticmethod
    def waiting(response: httpx.Response) -> timedelta | None:
        """HubSpot's 429 names its policy rather than sending `Retry-After`: wait its window."""
        try:
            policy = str(response.json().get("policyName", ""))
        except (ValueError, AttributeError):
            policy = ""
        if policy in _POLICY_WAIT:
            return timedelta(seconds=_POLICY_WAIT[policy])
        interval = response.headers.get("x-hubspot-ratelimit-interval-milliseconds")
        if interval and interval.isdigit():
            return timedelta(milliseconds=int(interval))
        return None

    def probe(self) -> None:
        """Check the token and its scopes the way write-back will use them (`baton check`):
        `Permanent` saying what is wrong, `Transient` if HubSpot cannot be reached."""
        self.api.call("GET", "/crm/v3/objects/contacts", params={"limit": 1})
        self.api.call("GET", "/crm/v3/owners/", params={"limit": 1})

    # reading -----------------------------------------------------------------------------

    def contact(self, contact_id: str, properties: Iterable[str]) -> dict[str, Any] | None:
        """The contact's properties (those asked for that it has), or None if it is gone."""
        found = self.api.call(
            "GET",
            f"/crm/v3/objects/contacts/{contact_id}",
            params={"properties": ",".join(sorted(set(properties)))},
            absent=frozenset({404}),
        )
        return dict(found.get("properties") or {}) if found else None

    def won(self, deal_id: str) -> Won | None:
        """The deal if HubSpot counts it as won (`hs_is_closed_won`, whatever the pipeline),
        with its amount, currency and contacts; None for a deal not won, or gone."""
        found = self.api.call(
            "GET",
            f"/crm/v3/objects/deals/{deal_id}",
            params={"properties": ",".join(DEAL_PROPERTIES), "associations": "contacts"},
            absent=frozenset({404}),
        )
        if not found:
            return None
        properties = found.get("properties") or {}
        if str(properties.get("hs_is_closed_won", "")).lower() != "true":
            return None
        linked = ((found.get("associations") or {}).get("contacts") or {}).get("results") or []
        contacts = dict.fromkeys(str(item["id"]) for item in linked if item.get("id"))
        try:
            value = float(properties["amount"]) if properties.get("amount") else None
        except ValueError:
            value = None
        return Won(
            deal=str(found.get("id", deal_id)),
            external_ids=tuple(ObjectRef("hubspot", "contact", c).external_id for c in contacts),
            value=value,
            currency=properties.get("deal_currency_code") or None,
        )

    def owner(self, email: str) -> str:
        """The id of the HubSpot user with this e-mail; `Permanent` if there is none."""
        key = email.strip().casefold()
        if key not in self._owners:
            found = self.api.call(
                "GET", "/crm/v3/owners/", params={"email": email, "limit": 1, "archived": "false"}
            )
            results = (found or {}).get("results") or []
            if not results:
                raise Permanent(self.crm, f"no HubSpot user has the e-mail {email}", status=404)
            self._owners[key] = str(results[0]["id"])
        return self._owners[key]

    # writing back ------------------------------------------------------------------------

    def set_owner(self, ref: ObjectRef, email: str) -> None:
        """Make the seller (by e-mail) the contact's owner."""
        self._update(ref.id, {"hubspot_owner_id": self.owner(email)})

    def set_status(self, ref: ObjectRef, status: str, others: Iterable[str] = ()) -> None:
        """Set the contact's lead status (`hs_lead_status`, one value: `others` go with it)."""
        self._update(ref.id, {"hs_lead_status": status})

    def _update(self, contact_id: str, properties: dict[str, str]) -> None:
        self.api.call(
            "PATCH", f"/crm/v3/objects/contacts/{contact_id}", json={"properties": properties}
        )

    def find_note(self, ref: ObjectRef, stamp: str) -> str | None:
        """The id of a note on the contact whose body holds `stamp`, if an earlier attempt
        made one; read from the contact's associations, which show a note at once."""
        ids: list[str] = []
        after: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 500}
            if after:
                params["after"] = after
            page = self.api.call(
                "GET", f"/crm/v4/objects/contact/{ref.id}/associations/note", params=params
            )
            ids += [str(item["toObjectId"]) for item in (page or {}).get("results") or []]
            after = (((page or {}).get("paging") or {}).get("next") or {}).get("after")
            if not after:
                break
        for start in range(0, len(ids), 100):
            read = self.api.call(
                "POST",
                "/crm/v3/objects/notes/batch/read",
                json={
                    "properties": ["hs_note_body"],
                    "inputs": [{"id": i} for i in ids[start : start + 100]],
                },
            )
            for note in (read or {}).get("results") or []:
                if stamp in str((note.get("properties") or {}).get("hs_note_body") or ""):
                    return str(note["id"])
        return None

    def add_note(self, ref: ObjectRef, body: str, at: datetime) -> str:
        """Put a note (HTML) on the contact's timeline at `at`; its id."""
        created = self.api.call(
            "POST",
            "/crm/v3/objects/notes",
            json={
                "properties": {"hs_timestamp": at.isoformat(), "hs_note_body": body},
                "associations": [
                    {
                        "to": {"id": ref.id},
                        "types": [
                            {
                                "associationCategory": "HUBSPOT_DEFINED",
                                "associationTypeId": NOTE_TO_CONTACT,
                            }
                        ],
                    }
                ],
            },
        )
        return str(created["id"])
