"""A local Pipedrive: API v2 persons and organizations, v1 leads, lead labels, users and
notes, answering with Pipedrive's `{"success", "data", "additional_data"}` bodies and its
error shape `{"success": false, "error", "error_info", "data": null}`.

Requests need the `x-api-token` header (or `api_token` in the query, as Pipedrive also
takes). A 429 carries `x-ratelimit-*` headers, and `Retry-After` when a test asks for one.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime
from typing import Any

from tests.fakecrm import Call, FakeCrm, Refused, Reply

TOKEN = "0123456789abcdef0123456789abcdef01234567"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakePipedrive(FakeCrm):
    name = "pipedrive"

    def __init__(self, token: str = TOKEN) -> None:
        super().__init__()
        self.token = token
        self.persons: dict[int, dict[str, Any]] = {}
        self.orgs: dict[int, dict[str, Any]] = {}
        self.leads: dict[str, dict[str, Any]] = {}
        self.users: list[dict[str, Any]] = []
        self.labels: list[dict[str, Any]] = []
        self.notes: dict[int, dict[str, Any]] = {}
        self._ids = itertools.count(101)
        self._register()

    # seeding -----------------------------------------------------------------------------

    def add_person(self, person_id: int, name: str, email: str, **fields: Any) -> dict[str, Any]:
        self.persons[person_id] = {
            "id": person_id,
            "name": name,
            "first_name": name.split()[0],
            "last_name": name.split()[-1],
            "emails": [{"label": "work", "value": email, "primary": True}],
            "phones": [],
            "owner_id": 1,
            "org_id": None,
            "label_ids": [],
            "add_time": _now(),
            "update_time": _now(),
            "visible_to": 3,
            "custom_fields": {},
            **fields,
        }
        return self.persons[person_id]

    def add_org(self, org_id: int, name: str, country: str | None = None) -> None:
        self.orgs[org_id] = {
            "id": org_id,
            "name": name,
            "owner_id": 1,
            "address": {"value": country, "country": country} if country else None,
            "label_ids": [],
            "custom_fields": {},
            "add_time": _now(),
        }

    def add_lead(self, person_id: int | None, title: str, **fields: Any) -> str:
        lead_id = str(uuid.uuid4())
        self.leads[lead_id] = {
            "id": lead_id,
            "title": title,
            "owner_id": 1,
            "person_id": person_id,
            "organization_id": None,
            "label_ids": [],
            "source_name": "API",
            "is_archived": False,
            "value": None,
            "add_time": _now(),
            **fields,
        }
        return lead_id

    def add_user(self, user_id: int, email: str, name: str = "Sofie Berg", active=True) -> None:
        self.users.append(
            {"id": user_id, "name": name, "email": email, "active_flag": active, "is_admin": 0}
        )

    def add_label(self, name: str, color: str = "green") -> str:
        label_id = str(uuid.uuid4())
        self.labels.append({"id": label_id, "name": name, "color": color})
        return label_id

    def add_note(self, content: str, **target: Any) -> int:
        note_id = next(self._ids)
        self.notes[note_id] = {"id": note_id, "content": content, "add_time": _now(), **target}
        return note_id

    # the protocol ------------------------------------------------------------------------

    def authorised(self, call: Call) -> bool:
        return self.token in (call.headers.get("x-api-token"), call.query.get("api_token"))

    def error_body(self, status: int, message: str) -> Any:
        info = "Please check developers.pipedrive.com for more information about Pipedrive API."
        body: dict[str, Any] = {"success": False, "error": message, "error_info": info}
        if status == 401:
            body["errorCode"] = 401
        body["data"] = None
        body["additional_data"] = None
        return body

    def limit_reply(self, retry_after: str | None) -> Reply:
        headers = {
            "x-ratelimit-limit": "80",
            "x-ratelimit-remaining": "0",
            "x-ratelimit-reset": "2",
        }
        if retry_after is not None:
            headers["Retry-After"] = retry_after
        body = {"success": False, "error": "Request over limit", "errorCode": 429}
        return Reply(429, body, headers)

    @staticmethod
    def ok(data: Any, **additional: Any) -> Reply:
        body: dict[str, Any] = {"success": True, "data": data}
        if additional:
            body["additional_data"] = additional
        return Reply(200, body)

    def _register(self) -> None:
        route = self.route

        @route("GET", r"/api/v2/persons/(\d+)")
        def read_person(call: Call, match) -> Reply:
            person = self.persons.get(int(match[1]))
            if person is None:
                raise Refused(404, "Person not found")
            return self.ok(person)

        @route("PATCH", r"/api/v2/persons/(\d+)")
        def update_person(call: Call, match) -> Reply:
            person = self.persons.get(int(match[1]))
            if person is None:
                raise Refused(404, "Person not found")
            owner = (call.body or {}).get("owner_id")
            if owner is not None and owner not in {u["id"] for u in self.users}:
                raise Refused(400, f"User with id {owner} not found")
            person.update(call.body or {}, update_time=_now())
            return self.ok(person)

        @route("GET", r"/api/v2/organizations/(\d+)")
        def read_org(call: Call, match) -> Reply:
            org = self.orgs.get(int(match[1]))
            if org is None:
                raise Refused(404, "Organization not found")
            return self.ok(org)

        @route("GET", r"/v1/leads/([0-9a-f-]{36})")
        def read_lead(call: Call, match) -> Reply:
            lead = self.leads.get(match[1])
            if lead is None:
                raise Refused(404, "Lead not found")
            return self.ok(lead)

        @route("PATCH", r"/v1/leads/([0-9a-f-]{36})")
        def update_lead(call: Call, match) -> Reply:
            lead = self.leads.get(match[1])
            if lead is None:
                raise Refused(404, "Lead not found")
            body = call.body or {}
            known = {label["id"] for label in self.labels}
            unknown = [i for i in body.get("label_ids") or [] if i not in known]
            if unknown:
                raise Refused(400, f"Lead label(s) {', '.join(unknown)} not found")
            if "owner_id" in body and body["owner_id"] not in {u["id"] for u in self.users}:
                raise Refused(400, "Owner not found")
            lead.update(body, update_time=_now())
            return self.ok(lead)

        @route("GET", r"/v1/leadLabels")
        def lead_labels(call: Call, match) -> Reply:
            return self.ok(self.labels)

        @route("GET", r"/v1/users/me")
        def me(call: Call, match) -> Reply:
            return self.ok(
                {
                    "id": 1,
                    "name": "Admin",
                    "email": "admin@berg.se",
                    "company_id": 12882925,
                    "company_domain": "berg",
                    "is_admin": 1,
                }
            )

        @route("GET", r"/v1/users/find")
        def find_users(call: Call, match) -> Reply:
            term = call.query.get("term", "").casefold()
            by_email = call.query.get("search_by_email") == "1"
            found = [
                u for u in self.users if term in (u["email"] if by_email else u["name"]).casefold()
            ]
            return self.ok(found or None)

        @route("GET", r"/v1/notes")
        def list_notes(call: Call, match) -> Reply:
            notes = list(self.notes.values())
            if "person_id" in call.query:
                notes = [n for n in notes if str(n.get("person_id")) == call.query["person_id"]]
            if "lead_id" in call.query:
                notes = [n for n in notes if n.get("lead_id") == call.query["lead_id"]]
            start = int(call.query.get("start", 0))
            limit = int(call.query.get("limit", 100))
            page = notes[start : start + limit]
            more = start + limit < len(notes)
            pagination = {"start": start, "limit": limit, "more_items_in_collection": more}
            if more:
                pagination["next_start"] = start + limit
            return self.ok(page or None, pagination=pagination)

        @route("POST", r"/v1/notes")
        def add_note(call: Call, match) -> Reply:
            body = call.body or {}
            if not body.get("content"):
                raise Refused(400, "Note content is required")
            targets = {
                k: body[k] for k in ("person_id", "lead_id", "deal_id", "org_id") if body.get(k)
            }
            if not targets:
                raise Refused(400, "Note must be attached to a deal, person, organization or lead")
            if "person_id" in targets and targets["person_id"] not in self.persons:
                raise Refused(400, "Person not found")
            if "lead_id" in targets and targets["lead_id"] not in self.leads:
                raise Refused(400, "Lead not found")
            when = body.get("add_time")
            if when is not None:
                try:
                    datetime.strptime(when, "%Y-%m-%d %H:%M:%S")
                except (TypeError, ValueError):
                    raise Refused(
                        400, "add_time must be in the format YYYY-MM-DD HH:MM:SS"
                    ) from None
            note_id = self.add_note(body["content"], **targets)
            if when is not None:
                self.notes[note_id]["add_time"] = when
            return Reply(201, {"success": True, "data": self.notes[note_id]})
