"""What Marketing hands over, validated field by field so a client gets every error at once."""

from datetime import UTC, datetime
from typing import Annotated, Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from storage.models import Lead, external_key


def _printable(value: str) -> str:
    """A NUL cannot be stored in PostgreSQL text, and no person types one."""
    if "\x00" in value:
        raise ValueError("must not contain a NUL character")
    return value


# Characters that are not text: C0 and C1 controls (a bell, an escape sequence, a bare
# carriage return) and the bidirectional embeddings, overrides and isolates, which make a
# name read differently from what it holds (U+202A-202E, U+2066-2069). Dropped before a lead
# is stored or shown. A NUL is refused instead (see `_printable`).
_UNSEEN = {code: None for code in (*range(0x01, 0x20), *range(0x7F, 0xA0))}
_UNSEEN |= dict.fromkeys((*range(0x202A, 0x202F), *range(0x2066, 0x206A)))
_ONE_LINE = _UNSEEN | {ord(c): " " for c in "\t\n\v\f\x85\u2028\u2029"}
_LINES = _UNSEEN | {ord("\t"): "\t", ord("\n"): "\n"}


def _one_line(value: Any) -> Any:
    """A field of one line: line breaks and tabs become spaces, other controls go."""
    if not isinstance(value, str):
        return value
    return value.replace("\r\n", " ").translate(_ONE_LINE)


def _lines(value: Any) -> Any:
    """A field of several lines keeps its line breaks (a Windows one becomes one) and tabs."""
    if not isinstance(value, str):
        return value
    return value.replace("\r\n", "\n").translate(_LINES)


NoNul = AfterValidator(_printable)
OneLine = BeforeValidator(_one_line)
Lines = BeforeValidator(_lines)
# Cleaned first (the outer validator runs before the string's own checks), then stripped and
# measured: a name of nothing but control characters is as empty as an empty one.
Text = Annotated[
    Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)], OneLine, NoNul
]
LongText = Annotated[
    Annotated[str, StringConstraints(strip_whitespace=True, max_length=10000)], Lines, NoNul
]
Required = Annotated[
    Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)],
    OneLine,
    NoNul,
]

COUNTRIES = frozenset(region for region in phonenumbers.SUPPORTED_REGIONS if region.isalpha()) | {
    "AQ",
    "BV",
    "GS",
    "HM",
    "PN",
    "TF",
    "UM",
}


class Activity(BaseModel):
    """One step of the lead's behaviour history: a page read, a download, a webinar."""

    model_config = ConfigDict(extra="ignore")

    at: datetime
    kind: Required
    detail: Text | None = None

    @field_validator("at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        try:
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        except OverflowError:
            raise ValueError("is outside the range of dates Baton can store") from None


class LeadIn(BaseModel):
    """The body of `POST /api/leads`, the CSV import and the Slack hand-over form."""

    model_config = ConfigDict(extra="ignore")

    external_id: Text | None = None
    name: Required
    email: Required
    company: Required
    title: Text | None = None
    country: Text | None = Field(default=None, description="ISO 3166 alpha-2, e.g. DK")
    phone: Text | None = Field(default=None, description="normalised to E.164")
    industry: Text | None = None
    buying_stage: Text | None = None
    source: Text | None = None
    challenges: LongText | None = None
    budget: Text | None = None
    employees: int | None = Field(default=None, ge=0, le=2_147_483_647)
    revenue: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    profit: float | None = Field(default=None, allow_inf_nan=False)  # a loss is negative
    activity: list[Activity] = Field(default_factory=list, max_length=200)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        try:
            return validate_email(value, check_deliverability=False).normalized
        except EmailNotValidError as error:
            raise ValueError(f"is not a valid email address: {error}") from None

    @field_validator("country")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        if not value:
            return None
        code = value.upper()
        if code not in COUNTRIES:
            raise ValueError(f'"{value}" is not an ISO 3166 alpha-2 country code like DK')
        return code

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None, info: ValidationInfo) -> str | None:
        if not value:
            return None
        region = info.data.get("country")
        try:
            number = phonenumbers.parse(value, region)
        except phonenumbers.NumberParseException as error:
            hint = "" if region else " (write it with the country code, like +45 …)"
            raise ValueError(f'"{value}" is not a phone number: {error._msg}{hint}') from None
        if not phonenumbers.is_possible_number(number):
            raise ValueError(f'"{value}" is not a possible phone number')
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    @field_validator(
        "external_id", "title", "industry", "buying_stage", "source", "budget", "challenges"
    )
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value or None

    def columns(self) -> dict[str, Any]:
        """The lead's stored fields; activity keeps ISO timestamps so JSON columns can hold it.

        With `external_key`, which the unique index holds in place of the `external_id`."""
        fields = self.model_dump(mode="json")
        fields["external_key"] = external_key(self.external_id)
        return fields


class LeadCreated(BaseModel):
    id: str
    qualified: bool
    reasons: list[str]


class LeadPublic(LeadCreated):
    """A stored lead as the intake API shows it when the same `external_id` comes again."""

    external_id: str | None
    name: str
    email: str
    company: str
    title: str | None
    phone: str | None
    country: str | None
    industry: str | None
    buying_stage: str | None
    source: str | None
    challenges: str | None
    budget: str | None
    employees: int | None
    revenue: float | None
    profit: float | None
    activity: list[dict[str, Any]]
    stage: str
    owner: str | None
    received_at: datetime

    @classmethod
    def of(cls, lead: Lead) -> "LeadPublic":
        return cls.model_validate(lead, from_attributes=True)
