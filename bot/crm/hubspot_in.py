"""What HubSpot sends to `POST /api/crm/hubspot`: its signature, and the two shapes of body.

- A workflow's "Send a webhook" action posts one contact with its properties: either the
  whole contact record (`vid`, `properties: {name: {value, versions}}`, `form-submissions`)
  or the properties the workflow was told to include, flat, with `hs_object_id`.
- An app's webhook subscription posts a batch (a JSON list, up to 100) of events that name
  objects but carry no properties: `contact.creation`, `contact.propertyChange`,
  `deal.creation`, `deal.propertyChange` (or `object.*` with `objectTypeId` 0-1 and 0-3
  on HubSpot's newer developer platform). Each named contact and deal is then read through
  the API (`bot.crm.hubspot.HubSpot`).

Both are signed with `X-HubSpot-Signature-v3`, checked here before anything is parsed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.crm.hubspot import HubSpot
from bot.crm.mapping import ObjectRef, Received, Unmappable, plain, to_lead
from bot.crm_section import CrmSection

WINDOW = timedelta(minutes=5)
"""How old (or how far ahead of Baton's clock) a request's timestamp may be."""

# The characters HubSpot decodes in the URI before it signs it; the `?` that starts the
# query string is left as it is, like every other escape.
_DECODED = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}

MAX_EVENTS = 100  # HubSpot sends at most 100 events a request
CONTACT_TYPES = {"contact.creation", "contact.propertyChange", "contact.restore"}
DEAL_TYPES = {"deal.creation", "deal.propertyChange"}
CONTACT_OBJECT, DEAL_OBJECT = "0-1", "0-3"

ACTIVITY_PROPERTIES = (
    "first_conversion_event_name",
    "first_conversion_date",
    "recent_conversion_event_name",
    "recent_conversion_date",
    "hs_analytics_last_url",
    "hs_analytics_last_timestamp",
)
"""Contact properties that hold the behaviour history HubSpot keeps for every contact."""


class BadSignature(Exception):
    """The request is not HubSpot's, or no longer fresh: answer 401 and store nothing."""


def signing_uri(uri: str) -> str:
    """The request URI as HubSpot signs it: with its listed escapes decoded."""
    for escaped, char in _DECODED.items():
        uri = uri.replace(escaped, char).replace(escaped.lower(), char)
    return uri


def signature(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """Base64 HMAC-SHA256, keyed with the app's client secret, of method + URI + body +
    timestamp, the way HubSpot computes `X-HubSpot-Signature-v3`."""
    source = method.upper().encode() + signing_uri(uri).encode() + body + timestamp.encode()
    digest = hmac.new(secret.encode(), source, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify(
    *,
    secret: str,
    method: str,
    uri: str,
    body: bytes,
    headers: Mapping[str, str],
    now: datetime,
) -> None:
    """Refuse (`BadSignature`) a request not signed with `secret`, or signed too long ago.

    `uri` is the full URL HubSpot called (scheme, host, path, query), as configured in
    HubSpot: behind a proxy, Baton's public address, not the one it listens on. `headers`
    must look names up without regard to case (Starlette's and httpx's do)."""
    given = headers.get("x-hubspot-signature-v3")
    stamp = headers.get("x-hubspot-request-timestamp")
    if not given or not stamp:
        raise BadSignature("no X-HubSpot-Signature-v3 or X-HubSpot-Request-Timestamp header")
    try:
        sent = datetime.fromtimestamp(int(stamp) / 1000, UTC)
    except (ValueError, OverflowError, OSError):
        raise BadSignature(f"X-HubSpot-Request-Timestamp {stamp!r} is not a time") from None
    if abs(now - sent) > WINDOW:
        raise BadSignature(f"signed at {sent:%Y-%m-%d %H:%M:%S} UTC, over 5 minutes from now")
    expected = signature(secret, method, uri, body, stamp)
    if not hmac.compare_digest(expected.encode(), given.strip().encode()):
        raise BadSignature("X-HubSpot-Signature-v3 does not match the request")


@dataclass(frozen=True)
class Contact:
    """One contact with its properties, as a workflow sends it or the API reads it."""

    ref: ObjectRef
    properties: dict[str, Any]
    activity: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Batch:
    """The objects an app webhook batch names, each once, in the order first named."""

    contacts: list[str]
    deals: list[str]


def parse(body: Any) -> Contact | Batch:
    """A workflow's contact or an app's batch; `Unmappable` for a body that is neither."""
    if isinstance(body, list):
        return _batch(body)
    if not isinstance(body, dict):
        raise Unmappable([_error(["body"], "is neither a HubSpot contact nor a webhook batch")])
    properties = body.get("properties")
    bag = dict(properties) if isinstance(properties, dict) else dict(body)
    object_id = next(
        (
            plain(value)
            for value in (
                body.get("vid"),
                body.get("canonical-vid"),
                body.get("objectId"),
                body.get("hs_object_id"),
                bag.get("hs_object_id"),
            )
            if plain(value) is not None
        ),
        None,
    )
    if object_id is None:
        raise Unmappable(
            [_error(["body", "hs_object_id"], "names no contact: include hs_object_id")]
        )
    try:
        ref = ObjectRef("hubspot", "contact", str(object_id))
    except ValueError as error:
        raise Unmappable([_error(["body", "hs_object_id"], str(error))]) from None
    return Contact(ref, {k: plain(v) for k, v in bag.items()}, activity(bag, body))


def receive(body: Any, *, crm: CrmSection, client: HubSpot | None) -> Received:
    """The leads and won deals a verified request carries.

    A workflow's one contact that cannot be mapped raises `Unmappable` (the request's 422).
    In an app's batch each contact stands alone: those that map are taken, the others are
    listed in `refused`, so one bad contact does not make HubSpot resend a hundred good ones.
    A batch needs `client` to read what its events name; a contact deleted since is skipped.
    The client's errors (`bot.crm.errors`) pass through: a 503 makes HubSpot try again."""
    fields = crm.fields_of("hubspot")
    found = parse(body)
    if isinstance(found, Contact):
        return Received(
            [to_lead(found.ref, found.properties, fields, activity=found.activity)], [], []
        )
    if client is None:
        raise ValueError("reading the contacts of a HubSpot webhook batch needs HUBSPOT_TOKEN")
    wanted = {name for names in fields.values() for name in names} | set(ACTIVITY_PROPERTIES)
    leads, refused = [], []
    for contact_id in found.contacts:
        properties = client.contact(contact_id, wanted)
        if properties is None:
            continue
        ref = ObjectRef("hubspot", "contact", contact_id)
        try:
            leads.append(to_lead(ref, properties, fields, activity=activity(properties, {})))
        except Unmappable as problem:
            refused.append(problem)
    won = [deal for deal in map(client.won, found.deals) if deal is not None]
    return Received(leads, won, refused)


def _batch(events: list[Any]) -> Batch:
    if len(events) > MAX_EVENTS:
        raise Unmappable(
            [_error(["body"], f"has {len(events)} events; HubSpot sends at most {MAX_EVENTS}")]
        )
    contacts: dict[str, None] = {}
    deals: dict[str, None] = {}
    problems = []
    for index, event in enumerate(events):
        if not isinstance(event, dict) or event.get("objectId") is None:
            problems.append(_error(["body", index, "objectId"], "is required"))
            continue
        if not str(event["objectId"]).isdigit():
            problems.append(_error(["body", index, "objectId"], "is not a HubSpot object id"))
            continue
        kind = str(event.get("subscriptionType", ""))
        object_type = str(event.get("objectTypeId", ""))
        object_id = str(event["objectId"])
        if kind in CONTACT_TYPES or (kind.startswith("object.") and object_type == CONTACT_OBJECT):
            contacts.setdefault(object_id)
        elif kind in DEAL_TYPES or (kind.startswith("object.") and object_type == DEAL_OBJECT):
            if kind.endswith("propertyChange") and event.get("propertyName") != "dealstage":
                continue  # only a change of stage can win a deal
            deals.setdefault(object_id)
    if problems:
        raise Unmappable(problems)
    return Batch(list(contacts), list(deals))


def activity(properties: Mapping[str, Any], record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The contact's behaviour history: form submissions, first and latest conversion, and
    the last page seen, oldest first, each once."""
    found: list[dict[str, Any]] = []
    submissions = record.get("form-submissions")
    for submission in submissions if isinstance(submissions, list) else []:
        if isinstance(submission, dict):
            at = _when(submission.get("timestamp"))
            title = submission.get("title") or submission.get("page-title")
            if at and title:
                found.append({"at": at, "kind": "form", "detail": str(title)})
    for which in ("first", "recent"):
        at = _when(plain(properties.get(f"{which}_conversion_date")))
        name = plain(properties.get(f"{which}_conversion_event_name"))
        if at and name:
            found.append({"at": at, "kind": "conversion", "detail": str(name)})
    at = _when(plain(properties.get("hs_analytics_last_timestamp")))
    url = plain(properties.get("hs_analytics_last_url"))
    if at and url:
        found.append({"at": at, "kind": "page", "detail": str(url)})
    unique = {(item["at"], item["kind"], item["detail"]): item for item in found}
    return sorted(unique.values(), key=lambda item: item["at"])[-200:]


def _when(value: Any) -> str | None:
    """An ISO time from HubSpot's milliseconds since the epoch or its ISO strings."""
    if value is None or value == "":
        return None
    try:
        return datetime.fromtimestamp(int(value) / 1000, UTC).isoformat()
    except (TypeError, ValueError, OverflowError, OSError):
        pass
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).isoformat()
    except ValueError:
        return None


def _error(loc: list[Any], message: str) -> dict[str, Any]:
    return {"loc": loc, "msg": message, "type": "value_error"}
