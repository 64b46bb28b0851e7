"""From a CRM object's properties to what the intake takes (`bot.schemas.LeadIn`).

The CRM's values are brought into Baton's shape first (a country name becomes its code, a
size band like `50-100` its lower bound, Pipedrive's list of e-mails its primary one), then
validated by the intake's own model, so a lead from a CRM is held to exactly the rules of
`POST /api/leads`. Every problem comes back at once, each naming the Baton field and the CRM
property it was read from, and nothing is stored from a payload that has one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from bot.agreement import _country_names
from bot.schemas import COUNTRIES, LeadIn

KINDS = {"hubspot": ("contact",), "pipedrive": ("person", "lead")}
_IDS = {
    "contact": re.compile(r"[1-9]\d{0,19}"),
    "person": re.compile(r"[1-9]\d{0,19}"),
    "lead": re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"),
}
_BAND = re.compile(r"^\s*(\d[\d\s.,]*)\s*(?:[-–+]|to\b|$)")


@dataclass(frozen=True)
class ObjectRef:
    """A CRM object a lead came from; its `external_id` is the lead's idempotency key, so a
    webhook the CRM sends twice hands the lead over once."""

    crm: str
    kind: str
    id: str

    def __post_init__(self) -> None:
        """Only ids of the CRM's own form: they go into API paths."""
        if self.kind not in KINDS.get(self.crm, ()) or not _IDS[self.kind].fullmatch(self.id):
            raise ValueError(f"{self.id!r} is not a {self.crm} {self.kind} id")

    @property
    def external_id(self) -> str:
        return f"{self.crm}-{self.kind}-{self.id}"

    @classmethod
    def parse(cls, external_id: str | None) -> ObjectRef | None:
        """The object behind a lead's `external_id`, or None for a lead from elsewhere."""
        crm, _, rest = (external_id or "").partition("-")
        kind, _, object_id = rest.partition("-")
        try:
            return cls(crm, kind, object_id)
        except ValueError:
            return None


@dataclass(frozen=True)
class Won:
    """A deal won in the CRM: its value, and the leads (by `external_id`) it may have come
    from, so Baton can mark the lead won and count the value under the lead's source."""

    deal: str
    external_ids: tuple[str, ...]
    value: float | None
    currency: str | None
    emails: tuple[str, ...] = ()
    """The e-mails of the deal's person, where the CRM makes a deal from a lead under a new
    id (a Pipedrive lead converted to a deal): the lead is then found by its e-mail."""


@dataclass(frozen=True)
class Received:
    """What one request hands over: leads to take in, deals won, and the contacts of a batch
    that could not become leads (each with every problem it has)."""

    leads: list[LeadIn]
    won: list[Won]
    refused: list[Unmappable]


class Unmappable(ValueError):
    """The payload cannot become a lead; `errors` is FastAPI's 422 `detail` list."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors))
        self.errors = errors


def plain(value: Any) -> Any:
    """A CRM value as a scalar: the primary (else first) of a list of `{value, primary}`
    entries, the `value` of a `{value, …}` object, None for an empty string."""
    if isinstance(value, list):
        entries = [v for v in value if plain(v) is not None]
        if not entries:
            return None
        first = next((v for v in entries if isinstance(v, dict) and v.get("primary")), entries[0])
        return plain(first)
    if isinstance(value, dict):
        return plain(value.get("value")) if "value" in value else None
    if isinstance(value, str):
        return value.strip() or None
    return value


def flatten(obj: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested objects as dotted keys (`address.country`); an object with a `value` also
    under its own key, so a Pipedrive custom field is named by its key alone. The entries of
    `custom_fields` are at the top level too, as the CRM's field keys name them."""
    flat: dict[str, Any] = {}
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            if "value" in value:
                flat[name] = value["value"]
            inner = flatten(value, f"{name}.")
            flat.update(inner)
            if key == "custom_fields":
                flat.update(flatten(value, prefix))
        else:
            flat[name] = value
    return flat


def employees(value: Any) -> Any:
    """A head count from a number or a size band: `240`, `50-100` (50), `1000+` (1000)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        band = _BAND.match(value)
        if band:
            digits = re.sub(r"[\s,]", "", band.group(1)).rstrip(".")
            if re.fullmatch(r"\d{1,3}(\.\d{3})+", digits):  # 1.000: a thousands separator
                digits = digits.replace(".", "")
            digits = digits.split(".")[0]
            if digits.isdigit():
                return int(digits)
    return value


def country(value: Any) -> Any:
    """An ISO code from a code or a country name in English or a Nordic language."""
    if not isinstance(value, str):
        return value
    if value.strip().upper() in COUNTRIES:
        return value.strip().upper()
    return _country_names().get(value.strip().casefold(), value)


_CONVERT = {"employees": employees, "country": country}


def to_lead(
    ref: ObjectRef,
    properties: Mapping[str, Any],
    fields: Mapping[str, tuple[str, ...]],
    *,
    activity: list[dict[str, Any]] | None = None,
) -> LeadIn:
    """The lead a CRM object hands over; `Unmappable` with every problem if it cannot.

    `fields` is `CrmSection.fields_of(crm)`. A lead without a mapped source is counted
    under the CRM's name, so the scorecard's "by source" still says where it came from."""
    data: dict[str, Any] = {"external_id": ref.external_id}
    for field, names in fields.items():
        values = [plain(properties.get(name)) for name in names]
        present = [v for v in values if v is not None]
        if not present:
            continue
        if len(names) > 1:
            value: Any = " ".join(str(v) for v in present)
        else:
            value = present[0]
        data[field] = _CONVERT.get(field, lambda v: v)(value)
    if activity:
        data["activity"] = activity
    data.setdefault("source", ref.crm)
    try:
        return LeadIn.model_validate(data)
    except ValidationError as error:
        raise Unmappable([_explain(e, ref, fields) for e in error.errors()]) from None


def _explain(error: Any, ref: ObjectRef, fields: Mapping[str, tuple[str, ...]]) -> dict[str, Any]:
    """An intake error restated for the CRM: which property the field is read from."""
    field = str(error["loc"][0]) if error["loc"] else ""
    names = " + ".join(fields.get(field, ())) or "nothing"
    what = f"the {ref.crm} {ref.kind} {ref.id}"
    if error["type"] == "missing" or (error["type"] == "string_too_short" and field in fields):
        message = f"is required, and {what} has no value in {names}"
        if field not in fields:
            message = f"is required, and crm.{ref.crm}.fields maps no property to it"
    else:
        message = f"{error['msg'].removeprefix('Value error, ')} (from {names} of {what})"
    return {
        "loc": ["body", "crm", ref.crm, *error["loc"]],
        "msg": message,
        "type": error["type"],
    }
