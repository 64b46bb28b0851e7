"""A local HubSpot: the v3 CRM objects (contacts, deals, notes), owners, and v4 associations,
answering with HubSpot's bodies and error shape, for the calls Baton makes.

Errors look like HubSpot's: `{"status": "error", "message", "correlationId", "category"}`;
a 429 names its policy (`policyName`) and, like HubSpot, sends no `Retry-After` unless a test
asks for one. Requests need `Authorization: Bearer <token>`.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime
from typing import Any

from tests.fakecrm import Call, FakeCrm, Refused, Reply

TOKEN = "pat-eu1-test-token"


class FakeHubSpot(FakeCrm):
    name = "hubspot"

    def __init__(self, token: str = TOKEN) -> None:
        super().__init__()
        self.token = token
        self.scopes = {"crm.objects.contacts.read", "crm.objects.contacts.write"}
        self.contacts: dict[str, dict[str, Any]] = {}
        self.deals: dict[str, dict[str, Any]] = {}
        self.notes: dict[str, dict[str, Any]] = {}
        self.owners: list[dict[str, Any]] = []
        self.links: dict[str, set[str]] = {}  # contact id -> note ids
        self._ids = itertools.count(9_000_001)
        self._register()

    # seeding -----------------------------------------------------------------------------

    def add_contact(self, contact_id: str, **properties: Any) -> None:
        self.contacts[contact_id] = {"hs_object_id": contact_id, **properties}

    def add_owner(self, owner_id: str, email: str, first: str = "Sofie", last: str = "Berg"):
        self.owners.append(
            {
                "id": owner_id,
                "email": email,
                "firstName": first,
                "lastName": last,
                "userId": int(owner_id) + 1,
                "archived": False,
            }
        )

    def add_deal(self, deal_id: str, contacts: list[str], **properties: Any) -> None:
        self.deals[deal_id] = {
            "properties": {"hs_object_id": deal_id, **properties},
            "contacts": contacts,
        }

    def add_note(self, contact_id: str, body: str) -> str:
        note_id = str(next(self._ids))
        self.notes[note_id] = {"hs_object_id": note_id, "hs_note_body": body}
        self.links.setdefault(contact_id, set()).add(note_id)
        return note_id

    def notes_of(self, contact_id: str) -> list[dict[str, Any]]:
        return [self.notes[n] for n in sorted(self.links.get(contact_id, set()))]

    # the protocol ------------------------------------------------------------------------

    def authorised(self, call: Call) -> bool:
        return call.headers.get("authorization") == f"Bearer {self.token}"

    def error_body(self, status: int, message: str) -> Any:
        category = {
            400: "VALIDATION_ERROR",
            401: "INVALID_AUTHENTICATION",
            403: "MISSING_SCOPES",
            404: "OBJECT_NOT_FOUND",
        }.get(status, "INTERNAL_ERROR" if status >= 500 else "VALIDATION_ERROR")
        return {
            "status": "error",
            "message": message,
            "correlationId": str(uuid.uuid4()),
            "category": category,
        }

    def limit_reply(self, retry_after: str | None) -> Reply:
        body = {
            "status": "error",
            "message": "You have reached your secondly limit.",
            "errorType": "RATE_LIMIT",
            "correlationId": str(uuid.uuid4()),
            "policyName": "SECONDLY",
            "groupName": "publicapi:private-app:test",
        }
        headers = {"X-HubSpot-RateLimit-Interval-Milliseconds": "1000"}
        if retry_after is not None:
            headers["Retry-After"] = retry_after
        return Reply(429, body, headers)

    def _object(self, object_id: str, properties: dict[str, Any]) -> dict[str, Any]:
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        return {
            "id": object_id,
            "properties": properties,
            "createdAt": now,
            "updatedAt": now,
            "archived": False,
        }

    def _register(self) -> None:
        route = self.route

        @route("GET", r"/crm/v3/objects/contacts")
        def list_contacts(call: Call, match) -> Reply:
            if "crm.objects.contacts.read" not in self.scopes:
                raise Refused(
                    403,
                    "This app hasn't been granted all required scopes to make this call. "
                    "Read more about required scopes here: https://developers.hubspot.com/scopes.",
                )
            limit = int(call.query.get("limit", 10))
            ids = sorted(self.contacts)[:limit]
            return Reply(200, {"results": [self._object(i, {}) for i in ids]})

        @route("GET", r"/crm/v3/objects/contacts/(\d+)")
        def read_contact(call: Call, match) -> Reply:
            contact = self.contacts.get(match[1])
            if contact is None:
                raise Refused(404, "Object not found.  objectId are usually numeric.")
            wanted = [p for p in call.query.get("properties", "").split(",") if p]
            shown = {p: contact.get(p) for p in wanted} | {"hs_object_id": match[1]}
            return Reply(200, self._object(match[1], shown))

        @route("PATCH", r"/crm/v3/objects/contacts/(\d+)")
        def update_contact(call: Call, match) -> Reply:
            contact = self.contacts.get(match[1])
            if contact is None:
                raise Refused(404, "resource not found")
            properties = (call.body or {}).get("properties")
            if not isinstance(properties, dict):
                raise Refused(400, "Invalid input JSON on line 1: properties is required")
            owner = properties.get("hubspot_owner_id")
            if owner is not None and owner not in {o["id"] for o in self.owners}:
                raise Refused(
                    400,
                    f'Property values were not valid: [{{"isValid":false,"message":"{owner} '
                    f'is not a valid owner id","error":"INVALID_OWNER_ID",'
                    f'"name":"hubspot_owner_id"}}]',
                )
            contact.update(properties)
            return Reply(200, self._object(match[1], dict(contact)))

        @route("GET", r"/crm/v3/objects/deals/(\d+)")
        def read_deal(call: Call, match) -> Reply:
            deal = self.deals.get(match[1])
            if deal is None:
                raise Refused(404, "Object not found.")
            wanted = [p for p in call.query.get("properties", "").split(",") if p]
            body = self._object(match[1], {p: deal["properties"].get(p) for p in wanted})
            if "contacts" in call.query.get("associations", ""):
                results = [{"id": c, "type": "deal_to_contact"} for c in deal["contacts"]]
                body["associations"] = {"contacts": {"results": results}}
            return Reply(200, body)

        @route("GET", r"/crm/v3/owners/?")
        def owners(call: Call, match) -> Reply:
            email = call.query.get("email")
            found = [o for o in self.owners if email is None or o["email"] == email]
            return Reply(200, {"results": found})

        @route("POST", r"/crm/v3/objects/notes")
        def create_note(call: Call, match) -> Reply:
            body = call.body or {}
            properties = body.get("properties") or {}
            if not properties.get("hs_timestamp"):
                raise Refused(400, "Property values were not valid: hs_timestamp is required")
            note_id = str(next(self._ids))
            for association in body.get("associations") or []:
                contact = str(association["to"]["id"])
                types = association.get("types") or []
                if contact not in self.contacts:
                    raise Refused(400, f"Contact {contact} does not exist")
                if not any(t.get("associationTypeId") == 202 for t in types):
                    raise Refused(400, "invalid association type for note to contact")
                self.links.setdefault(contact, set()).add(note_id)
            self.notes[note_id] = {"hs_object_id": note_id, **properties}
            return Reply(201, self._object(note_id, dict(self.notes[note_id])))

        @route("GET", r"/crm/v4/objects/contact/(\d+)/associations/note")
        def note_links(call: Call, match) -> Reply:
            if match[1] not in self.contacts:
                raise Refused(404, "Object not found.")
            ids = sorted(self.links.get(match[1], set()))
            limit = int(call.query.get("limit", 500))
            start = int(call.query.get("after", 0))
            page = ids[start : start + limit]
            results = [
                {
                    "toObjectId": int(i),
                    "associationTypes": [
                        {"category": "HUBSPOT_DEFINED", "typeId": 202, "label": None}
                    ],
                }
                for i in page
            ]
            body: dict[str, Any] = {"results": results}
            if start + limit < len(ids):
                body["paging"] = {"next": {"after": str(start + limit)}}
            return Reply(200, body)

        @route("POST", r"/crm/v3/objects/notes/batch/read")
        def read_notes(call: Call, match) -> Reply:
            inputs = (call.body or {}).get("inputs") or []
            wanted = (call.body or {}).get("properties") or []
            results = [
                self._object(i["id"], {p: self.notes[i["id"]].get(p) for p in wanted})
                for i in inputs
                if i["id"] in self.notes
            ]
            now = datetime.now(UTC).isoformat()
            return Reply(
                200,
                {"status": "COMPLETE", "results": results, "startedAt": now, "completedAt": now},
            )
