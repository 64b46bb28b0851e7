"""A CRM webhook request from raw bytes to an answer, with no web framework in sight, so the
HTTP routes (`POST /api/crm/hubspot`, `POST /api/crm/pipedrive`) are a few lines each.

Checked in this order, and nothing is read or stored before the request is known to be the
CRM's: credentials (401), JSON (400), the payload's shape and mapping (422, every problem),
then the reads from the CRM's API (503 while it fails, so the CRM sends the webhook again).
A 200 carries `received`: the leads to hand over and the deals won.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.crm import hubspot_in, pipedrive_in
from bot.crm.errors import CrmError, RateLimited
from bot.crm.hubspot import HubSpot
from bot.crm.mapping import Received, Unmappable
from bot.crm.pipedrive import Pipedrive
from bot.crm_section import CrmSection

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Answer:
    """The HTTP answer to give, and what the request hands over when it is a 200."""

    status: int
    body: dict[str, Any]
    received: Received | None = None
    headers: dict[str, str] = field(default_factory=dict)


def hubspot(
    *,
    method: str,
    uri: str,
    body: bytes,
    headers: Mapping[str, str],
    now: datetime,
    secret: str,
    crm: CrmSection,
    client: HubSpot | None,
) -> Answer:
    """`uri` is the address HubSpot was given (Baton's public URL of the route)."""
    try:
        hubspot_in.verify(
            secret=secret, method=method, uri=uri, body=body, headers=headers, now=now
        )
    except hubspot_in.BadSignature as refused:
        return Answer(401, {"detail": f"not signed by HubSpot: {refused}"})
    return _receive("hubspot", body, lambda data: hubspot_in.receive(data, crm=crm, client=client))


def pipedrive(
    *,
    authorization: str | None,
    body: bytes,
    user: str,
    password: str,
    crm: CrmSection,
    client: Pipedrive | None,
) -> Answer:
    try:
        pipedrive_in.check_basic(authorization, user=user, password=password)
    except pipedrive_in.BadCredentials as refused:
        return Answer(
            401,
            {"detail": f"Pipedrive's webhook credentials are needed: {refused}"},
            headers={"WWW-Authenticate": 'Basic realm="baton"'},
        )
    return _receive(
        "pipedrive", body, lambda data: pipedrive_in.receive(data, crm=crm, client=client)
    )


def _receive(crm: str, body: bytes, parse: Any) -> Answer:
    try:
        data = json.loads(body)
    except ValueError:
        return Answer(400, {"detail": "the body is not JSON"})
    try:
        received = parse(data)
    except Unmappable as problem:
        return Answer(422, {"detail": problem.errors})
    except RateLimited as error:
        seconds = max(1, round(error.retry_after.total_seconds()))
        log.warning("crm: %s holds Baton's reads (%s); the webhook will come again", crm, error)
        return Answer(
            503,
            {"detail": f"{crm} asked Baton to wait; send again later"},
            headers={"Retry-After": str(seconds)},
        )
    except (CrmError, ValueError) as error:
        log.error("crm: cannot read what a %s webhook names: %s", crm, error)
        return Answer(503, {"detail": f"Baton cannot read from {crm} right now"})
    summary = {
        "leads": len(received.leads),
        "won": len(received.won),
        "refused": [problem.errors for problem in received.refused],
    }
    return Answer(200, summary, received)
