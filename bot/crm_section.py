"""The agreement's `crm:` section (`Agreement.crm`): which CRM property fills which of
Baton's fields, and what the CRM's lead status becomes at each step. A domain module, not
part of the `bot.crm` adapter, because the agreement holds it.

```yaml
crm:
  hubspot:
    fields: {industry: industry, employees: numberofemployees}
    status: {claimed: IN_PROGRESS, contacted: ATTEMPTED_TO_CONTACT, rejected: UNQUALIFIED}
  pipedrive:
    fields: {budget: 5f1c0e…}      # a custom field's key
    status: {contacted: Warm}      # lead label names
```

Each CRM starts from defaults for its standard properties (`HUBSPOT_FIELDS`,
`PIPEDRIVE_FIELDS`); `fields` changes or adds to them, and `status` replaces the default
statuses one step at a time. A property is named as the CRM's API names it; a list of names
is joined with spaces (a first and a last name); `org.` and `lead.` reach the Pipedrive
organization and lead of a person. Errors name their place (`crm.hubspot.fields.employes`).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

BATON_FIELDS = (
    "name",
    "email",
    "company",
    "title",
    "phone",
    "country",
    "industry",
    "employees",
    "revenue",
    "profit",
    "budget",
    "challenges",
    "buying_stage",
    "source",
)
"""The intake's fields (`bot.schemas.LeadIn`) a CRM property can fill. `external_id` is the
CRM object's own id, and `activity` the behaviour history the CRM keeps (HubSpot's forms,
conversions and last page seen), so neither is mapped."""

STEPS = ("claimed", "assigned", "contacted", "accepted", "rejected", "nurture")
"""The moments Baton writes a lead status back: ownership, contact, and the three feedback
outcomes (accepted, rejected, back to nurture)."""

Step = Literal["claimed", "assigned", "contacted", "accepted", "rejected", "nurture"]

HUBSPOT_FIELDS: dict[str, tuple[str, ...]] = {
    "name": ("firstname", "lastname"),
    "email": ("email",),
    "company": ("company",),
    "title": ("jobtitle",),
    "phone": ("phone",),
    "country": ("country",),
    "industry": ("industry",),
    "employees": ("numemployees",),
    "revenue": ("annualrevenue",),
    "source": ("hs_analytics_source",),
}
"""HubSpot's standard contact properties (internal names)."""

HUBSPOT_STATUS: dict[str, str] = {
    "claimed": "IN_PROGRESS",
    "assigned": "IN_PROGRESS",
    "contacted": "ATTEMPTED_TO_CONTACT",
    "accepted": "CONNECTED",
    "rejected": "UNQUALIFIED",
    "nurture": "BAD_TIMING",
}
"""Values of HubSpot's standard `hs_lead_status` property."""

PIPEDRIVE_FIELDS: dict[str, tuple[str, ...]] = {
    "name": ("name",),
    "email": ("emails",),
    "company": ("org.name",),
    "title": ("job_title",),
    "phone": ("phones",),
    "country": ("org.address.country",),
    "source": ("lead.source_name",),
}
"""Pipedrive's standard person fields, and the person's organization and lead."""


def _names(value: object) -> object:
    """One property name, or several joined with spaces; each a non-empty string."""
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not names:
        raise ValueError("give a property name, or a list of them like [firstname, lastname]")
    for name in names:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"{name!r} is not a property name")
    return tuple(name.strip() for name in names)


def _keys_among(allowed: tuple[str, ...], what: str) -> BeforeValidator:
    """A mapping whose keys are all `allowed`; every other key named in one error."""

    def check(value: object) -> object:
        if not isinstance(value, dict):
            return value
        wrong = [key for key in value if key not in allowed]
        if wrong:
            raise ValueError(
                f"{', '.join(map(str, wrong))}: not {what}; use one of {', '.join(allowed)}"
            )
        return value

    return BeforeValidator(check)


Properties = Annotated[tuple[str, ...], BeforeValidator(_names)]
Status = Annotated[str, Field(min_length=1, max_length=200)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Connector(_Section):
    """One CRM's mapping, as written in the agreement (defaults applied by `fields_of`)."""

    fields: Annotated[dict[str, Properties], _keys_among(BATON_FIELDS, "a field Baton takes")] = (
        Field(default_factory=dict)
    )
    status: Annotated[dict[Step, Status], _keys_among(STEPS, "a step Baton writes back")] = Field(
        default_factory=dict
    )


class CrmSection(_Section):
    hubspot: Connector | None = None
    pipedrive: Connector | None = None

    def fields_of(self, crm: Literal["hubspot", "pipedrive"]) -> dict[str, tuple[str, ...]]:
        """The property (or properties) behind each Baton field: defaults, then the agreement's."""
        defaults = HUBSPOT_FIELDS if crm == "hubspot" else PIPEDRIVE_FIELDS
        connector = getattr(self, crm)
        return {**defaults, **(connector.fields if connector else {})}

    def status_of(self, crm: Literal["hubspot", "pipedrive"], step: str) -> str | None:
        """The CRM's lead status for a step, or None to leave it as it is.

        HubSpot has standard statuses to fall back on; Pipedrive's lead labels are each
        company's own, so Pipedrive changes a label only where the agreement names one."""
        connector = getattr(self, crm)
        given = connector.status.get(step) if connector else None
        if given is not None or crm == "pipedrive":
            return given
        return HUBSPOT_STATUS.get(step)


class CrmConfigError(ValueError):
    """The `crm:` section cannot be used; one line per problem, each naming its place."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def parse_crm(data: object) -> CrmSection:
    """Validate a `crm:` section on its own, with every problem named as `crm.<place>`."""
    try:
        return CrmSection.model_validate(data or {})
    except ValidationError as error:
        problems = []
        for item in error.errors():
            place = ".".join(["crm", *(str(part) for part in item["loc"])])
            message = item["msg"].removeprefix("Value error, ")
            if item["type"] == "extra_forbidden":
                message = "is not a key of the crm section"
            problems.append(f"{place}: {message}")
        raise CrmConfigError(problems) from None
