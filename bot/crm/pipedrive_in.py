"""What Pipedrive sends to `POST /api/crm/pipedrive`: webhooks v2, behind HTTP Basic auth.

A v2 webhook is `{"meta": {...}, "data": {...}, "previous": {...}}`; `meta.entity` and
`meta.action` say what happened. Baton takes a person or a lead added or changed (`create`,
`change`) as a hand-over, and a deal whose status became `won` as the loop closing. The
person's organization (and a lead's person) are read through the API, since a webhook
carries their ids, not their names. Everything else is acknowledged and left alone.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import replace
from typing import Any

from bot.crm.mapping import ObjectRef, Received, Unmappable, Won, flatten, plain, to_lead
from bot.crm.pipedrive import Pipedrive
from bot.crm_section import CrmSection

HANDED_OVER = {"create", "change"}


class BadCredentials(Exception):
    """Not the configured user and password: answer 401 and store nothing."""


def check_basic(header: str | None, *, user: str, password: str) -> None:
    """Refuse an `Authorization` header that is not Basic auth with `user` and `password`.

    Both halves are compared in constant time, and both always, so the answer's timing
    tells nothing about which was wrong."""
    scheme, _, encoded = (header or "").partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        raise BadCredentials("no HTTP Basic credentials")
    try:
        given_user, sep, given_password = (
            base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        )
    except (binascii.Error, UnicodeDecodeError):
        raise BadCredentials("the Basic credentials are not base64 of user:password") from None
    same_user = hmac.compare_digest(given_user.encode(), user.encode())
    same_password = hmac.compare_digest(given_password.encode(), password.encode())
    if not (sep and same_user and same_password):
        raise BadCredentials("wrong user or password")


def receive(body: Any, *, crm: CrmSection, client: Pipedrive | None) -> Received:
    """The lead or won deal a verified webhook carries (`Received`, at most one of either).

    `Unmappable` (a 422) for a body that is not a v2 webhook or a person or lead that cannot
    become a lead, with every problem at once. The client's errors pass through."""
    meta, data = _webhook(body)
    entity, action = meta.get("entity"), meta.get("action")
    if action not in HANDED_OVER or not isinstance(data, dict):
        return Received([], [], [])
    if entity == "deal":
        won = _won(data, body.get("previous"))
        if won is None:
            return Received([], [], [])
        person_id = _number(data, "person_id")
        person = client.person(person_id) if client and person_id else None
        emails = [plain(e) for e in (person or {}).get("emails") or []]
        return Received([], [replace(won, emails=tuple(e for e in emails if e))], [])
    if entity not in ("person", "lead"):
        return Received([], [], [])
    if client is None:
        raise ValueError("reading a Pipedrive person's organization needs PIPEDRIVE_API_TOKEN")
    try:
        ref = ObjectRef("pipedrive", str(entity), str(data.get("id") or meta.get("entity_id")))
    except ValueError as error:
        raise Unmappable([_error(["body", "data", "id"], str(error))]) from None
    bag = _properties(entity, data, client, ref)
    return Received([to_lead(ref, bag, crm.fields_of("pipedrive"))], [], [])


def _webhook(body: Any) -> tuple[dict[str, Any], Any]:
    if not isinstance(body, dict) or not isinstance(body.get("meta"), dict):
        raise Unmappable([_error(["body", "meta"], "is required: send Pipedrive webhooks v2")])
    meta = body["meta"]
    if str(meta.get("version", "")) != "2.0":
        raise Unmappable(
            [
                _error(
                    ["body", "meta", "version"],
                    f"is {meta.get('version')!r}: make the webhook in Pipedrive with version 2.0",
                )
            ]
        )
    return meta, body.get("data")


def _properties(
    entity: str, data: dict[str, Any], client: Pipedrive, ref: ObjectRef
) -> dict[str, Any]:
    """The person's fields, with its organization's as `org.…` and a lead's as `lead.…`."""
    lead: dict[str, Any] = {}
    person: dict[str, Any] | None = data
    if entity == "lead":
        lead = data
        person_id = _number(data, "person_id")
        person = client.person(person_id) if person_id else None
        if person is None:
            raise Unmappable(
                [_error(["body", "data", "person_id"], f"{ref.kind} {ref.id} names no person")]
            )
    for plural, singular in (("emails", "email"), ("phones", "phone")):
        if plural not in person and singular in person:  # API v1's names for the same lists
            person = {**person, plural: person[singular]}
    org_id = _number(person, "org_id") or _number(lead, "organization_id")
    org = client.organization(org_id) if org_id else None
    return flatten(person) | flatten(org or {}, "org.") | flatten(lead, "lead.")


def _won(data: dict[str, Any], previous: Any) -> Won | None:
    """A deal that is won now and was not before; its person is the lead it came from."""
    if data.get("status") != "won":
        return None
    if isinstance(previous, dict) and previous.get("status") in ("won", None):
        return None  # a change to a deal already won, or one that did not touch its status
    person = _number(data, "person_id")
    try:
        value = float(data["value"]) if data.get("value") is not None else None
    except (TypeError, ValueError):
        value = None
    return Won(
        deal=str(data.get("id")),
        external_ids=(ObjectRef("pipedrive", "person", str(person)).external_id,) if person else (),
        value=value,
        currency=data.get("currency") or None,
    )


def _number(data: dict[str, Any], key: str) -> int | None:
    """An id the webhook names (it goes into an API path): a positive whole number, or None."""
    value = data.get(key)
    if isinstance(value, dict):  # some payloads nest a related object as {"value": id, …}
        value = value.get("value")
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not str(value).isdigit() or int(value) < 1:
        raise Unmappable([_error(["body", "data", key], f"{value!r} is not a Pipedrive id")])
    return int(value)


def _error(loc: list[Any], message: str) -> dict[str, Any]:
    return {"loc": loc, "msg": message, "type": "value_error"}
