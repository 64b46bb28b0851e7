"""The agreement between Sales and Marketing: its sections, what each key may hold, and
what the agreement as a whole must keep. Read from the file by `bot.agreement_file`."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, time, timedelta
from functools import cache, cached_property
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bot.calendar import BusinessCalendar
from bot.crm_section import CrmSection
from bot.durations import Span, parse_duration
from bot.schemas import COUNTRIES

Duration = Annotated[Span, BeforeValidator(parse_duration), PlainSerializer(str, return_type=str)]
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
ROLES = ("sales_manager", "ceo", "owner")
CLOCKS = ("claim", "contact", "feedback")
_EMAIL = re.compile(r"^[^@\s:]+@[^@\s]+\.[^@\s]+$")
"""An address, not an id that holds an @ (Teams' channel ids do: `19:…@thread.tacv2`)."""

AddressCheck = Callable[[str, object], str]
"""A platform's check of an id the agreement names: `(kind, value) -> id`, kind "person" or
"conversation"; it raises ValueError with what the value is instead (`bot.slack.addresses`,
`bot.teams.addresses`)."""
Platform = Literal["slack", "teams"]
PLATFORMS: tuple[str, ...] = ("slack", "teams")
CHECK = "addresses"
"""The validation context's key for the platform's `AddressCheck`."""


def is_email(value: str) -> bool:
    return bool(_EMAIL.match(value))


def _address(kind: str) -> BeforeValidator:
    """An id of the platform the agreement is loaded for, as its `AddressCheck` accepts it.

    A person may be named by email address as well (in lower case: addresses are matched
    without regard to case); `bot.people` resolves it on the platform before Baton starts.
    Without a platform's check, any text is taken as an id."""

    def check(value: object, info: ValidationInfo) -> object:
        text = value.strip() if isinstance(value, str) else ""
        if kind == "person" and _EMAIL.match(text):
            return text.casefold()  # resolved on the platform: `bot.people`
        platform: AddressCheck | None = (info.context or {}).get(CHECK)
        if platform is not None:
            return platform(kind, value)
        if isinstance(value, str) and not text:
            raise ValueError("is empty: give an id or an email address")
        return value

    return BeforeValidator(check)


PersonId = Annotated[str, _address("person")]
ConversationId = Annotated[str, _address("conversation")]


def _window(value: Span) -> Span:
    if not value.amount:
        raise ValueError(
            f"a window of {value} makes every lead overdue the moment it arrives: "
            f"give it a length like 1h"
        )
    return value


Window = Annotated[Duration, AfterValidator(_window)]


@cache
def _country_names() -> dict[str, str]:
    """Country names in the languages phonenumbers knows (English, Danish, Swedish, …) to
    their codes, to suggest `DK` for `Denmark` or `Danmark`.

    Imported here, when an agreement names a country wrongly: the table takes most of a
    second of CPU to load, which every command's start would otherwise pay."""
    from phonenumbers.geodata.locale import LOCALE_DATA

    names = {"uk": "GB", "england": "GB", "great britain": "GB"}
    for code, by_language in LOCALE_DATA.items():
        for name in by_language.values():
            if name and not name.startswith("*"):
                names.setdefault(name.casefold(), code)
    return names


def _clock_time(value: object) -> object:
    """YAML 1.1 reads an unquoted 16:00 as the number 960 (base 60); take it back as a time."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
        return time(value // 60, value % 60)
    return value


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BusinessHours(Section):
    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS[:5]), min_length=1)
    start: Annotated[time, BeforeValidator(_clock_time)] = time(8)
    end: Annotated[time, BeforeValidator(_clock_time)] = time(16)
    holidays: str | None = None
    closed: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _start_before_end(self) -> BusinessHours:
        if self.start >= self.end:
            raise ValueError(f"start {self.start:%H:%M} must be before end {self.end:%H:%M}")
        return self

    @field_validator("closed")
    @classmethod
    def _closed_days(cls, value: list[str]) -> list[str]:
        for day in value:
            try:
                date.fromisoformat(f"2024-{day}")  # a leap year, so 02-29 is a day
            except (TypeError, ValueError):
                raise ValueError(f'"{day}" is not a day like "12-24" (MM-DD)') from None
        return value

    @field_validator("holidays")
    @classmethod
    def _holiday_country(cls, value: str | None) -> str | None:
        if value is not None and value.upper() not in holidays.list_supported_countries():
            raise ValueError(f'"{value}" is not a country the holidays package knows, like DK')
        return value.upper() if value else None


class Channels(Section):
    sales: ConversationId
    marketing: ConversationId


class People(Section):
    """Who holds each role: a platform user id, or an email address until `bot.people`
    has resolved it."""

    sales_manager: PersonId
    ceo: PersonId
    sales: list[PersonId] = Field(min_length=1)
    marketing: list[PersonId] = Field(default_factory=list)


class QualifiedLead(Section):
    countries: list[str] | None = None
    industries: list[str] | None = None
    min_employees: int | None = Field(default=None, ge=0)
    max_employees: int | None = Field(default=None, ge=0)
    contact_roles: list[str] | None = None
    budget_required: bool = False
    challenges_required: bool = False
    """The lead must name the challenges it wants solved (the intake's `challenges`)."""
    buying_stages: list[str] | None = None

    @field_validator("countries")
    @classmethod
    def _countries(cls, value: list[str] | None) -> list[str] | None:
        """Leads carry ISO 3166 codes; a country written as a name would match none of them."""
        if value is None:
            return None
        codes = [str(code).strip().upper() for code in value]
        wrong = [
            (str(given), _country_names().get(str(given).strip().casefold()))
            for given, code in zip(value, codes, strict=True)
            if code not in COUNTRIES
        ]
        if wrong:
            raise ValueError(
                "; ".join(
                    f'"{given}" is not a country code: write {code}'
                    if code
                    else f'"{given}" is not an ISO 3166 country code like DK'
                    for given, code in wrong
                )
            )
        return codes

    @field_validator("max_employees")
    @classmethod
    def _at_least_min(cls, value: int | None, info: ValidationInfo) -> int | None:
        low = info.data.get("min_employees")
        if value is not None and low is not None and low > value:
            raise ValueError(f"{value} is below min_employees {low}: no company could qualify")
        return value


def reason_code(label: str) -> str:
    """The stable code of a feedback reason written as words: `wrong decision-maker` ->
    `wrong_decision_maker`."""
    return re.sub(r"[^a-z0-9]+", "_", label.casefold()).strip("_")


def _feedback_reason(value: object) -> object:
    """A reason is its words, its code derived from them; or `{code, label}`, so the words
    can change later and what was stored under the code still counts as the same reason."""
    if isinstance(value, str):
        return {"code": reason_code(value), "label": value}
    return value


class FeedbackReason(Section):
    code: str = Field(pattern=r"^[a-z0-9_]{1,64}$")
    label: str = Field(min_length=1, max_length=150)

    def __str__(self) -> str:
        return self.label


def _one_code_each(reasons: list[FeedbackReason]) -> list[FeedbackReason]:
    codes = [reason.code for reason in reasons]
    twice = sorted({code for code in codes if codes.count(code) > 1})
    if twice:
        raise ValueError(f"two reasons have the code {', '.join(twice)}: give each its own")
    return reasons


def _label(reasons: list[FeedbackReason], code: str | None) -> str | None:
    """The words of a reason's `code`; a code no longer in the agreement shows as itself."""
    if code is None:
        return None
    return next((r.label for r in reasons if r.code == code), code)


def _dump_reason(reason: FeedbackReason) -> str | dict[str, str]:
    if reason.code == reason_code(reason.label):
        return reason.label
    return {"code": reason.code, "label": reason.label}


FeedbackReasonEntry = Annotated[
    FeedbackReason, BeforeValidator(_feedback_reason), PlainSerializer(_dump_reason)
]


class EscalationStep(Section):
    after: Duration
    notify: Literal["sales_manager", "ceo", "owner"]


class Sla(Section):
    claim_within: Window
    contact_within: Window
    feedback_within: Window
    remind_before: Duration = Span(0, "s")
    escalation: list[EscalationStep] = Field(default_factory=list)


class MarketingCommitment(Section):
    qualified_leads_per_month: int = Field(ge=0)


def _share(value: object) -> object:
    """`20%` (or a bare number of percent) as the share 0.2."""
    if isinstance(value, bool):
        return value
    text = str(value).strip() if isinstance(value, (str, int, float)) else ""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*%?", text)
    if not match:
        raise ValueError(f'"{value}" is not a share like 20%')
    share = float(match.group(1)) / 100
    if not 0 < share < 1:
        raise ValueError(f'"{value}" must be more than 0% and less than 100%')
    return share


Share = Annotated[
    float, BeforeValidator(_share), PlainSerializer(lambda v: f"{v * 100:g}%", return_type=str)
]


class Consequences(Section):
    """What happens, agreed in advance, when either side does not keep the agreement
    (`bot.consequences`). Each is optional: a key left out is a consequence not agreed."""

    reassign_after: Duration | None = None
    """A lead still unclaimed or uncontacted this long after its deadline (business time)
    goes to the next available seller, with a fresh window."""
    out_of_rotation_after: int | None = None
    """A seller with this many breaches in a rolling week gets no new leads until the sales
    manager puts them back."""
    marketing_shortfall: Share | None = None
    """Month-to-date qualified hand-overs this share behind the commitment pro rata: the CEO
    and the marketing channel are told, once a week while it lasts."""

    @field_validator("out_of_rotation_after")
    @classmethod
    def _some_breaches(cls, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise ValueError(
                f"{value} breaches would take every seller out at once: give the number of "
                f"breaches in a week that does, like 3"
            )
        return value


PAUSE_REASONS = (
    "customer asked to be called later",
    "customer out of office",
    "waiting for an answer from the customer",
)


class Pause(Section):
    """The owner may pause a lead's clocks once, until a day the customer named, no further
    than `longest` days ahead, with one of `reasons` or a note (`bot.pause`)."""

    longest: int = 14
    """Calendar days from the day of the pause."""
    reasons: Annotated[list[FeedbackReasonEntry], AfterValidator(_one_code_each)] = Field(
        default_factory=lambda: [
            FeedbackReason(code=reason_code(label), label=label) for label in PAUSE_REASONS
        ]
    )

    @field_validator("longest")
    @classmethod
    def _bounded(cls, value: int) -> int:
        if not 1 <= value <= 90:
            raise ValueError(f"{value} days: a pause lasts from 1 to 90 days, like 14")
        return value

    def label(self, code: str | None) -> str | None:
        """The words of a pause reason's code; a code no longer in the agreement shows as
        itself."""
        return _label(self.reasons, code)


class Reports(Section):
    weekly: str | None = None

    @field_validator("weekly")
    @classmethod
    def _weekly(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(
            r"(mon|tue|wed|thu|fri|sat|sun) ([01]\d|2[0-3]):[0-5]\d", value
        ):
            raise ValueError(f'"{value}" is not a weekly time like "mon 08:00"')
        return value


class Routing(Section):
    """Who gets a qualified lead: the first to press Claim (`claim`), or Baton's choice
    (`round_robin`: turns in proportion to `weights`; `least_loaded`: the fewest open leads
    per unit of weight), skipping sellers who are away, out of rotation or at `max_open`."""

    mode: Literal["claim", "round_robin", "least_loaded"] = "claim"
    weights: dict[PersonId, Annotated[int, Field(gt=0)]] = Field(default_factory=dict)
    """A seller's share relative to the others (default 1): weight 2 gets twice the leads."""
    max_open: Annotated[int, Field(gt=0)] | None = None
    """A seller holding this many open leads gets no new one from Baton, nor by Claim; the
    sales manager's Assign may still give them more."""

    @property
    def assigns(self) -> bool:
        """Whether Baton chooses the owner of each qualified lead."""
        return self.mode != "claim"

    def weight(self, seller: str) -> int:
        return self.weights.get(seller, 1)


class Retention(Section):
    personal_data_days: int = Field(ge=1)


class Agreement(Section):
    platform: Platform = "slack"
    """The chat platform Sales and Marketing work in: its ids name the channels and people."""
    timezone: str = "UTC"
    business_hours: BusinessHours | None = None
    channels: Channels
    people: People
    qualified_lead: QualifiedLead = Field(default_factory=QualifiedLead)
    sla: Sla
    feedback_reasons: Annotated[list[FeedbackReasonEntry], AfterValidator(_one_code_each)] = Field(
        min_length=1
    )
    marketing_commitment: MarketingCommitment | None = None
    reports: Reports | None = None
    retention: Retention | None = None
    routing: Routing = Field(default_factory=Routing)
    crm: CrmSection = Field(default_factory=CrmSection)
    consequences: Consequences = Field(default_factory=Consequences)
    pause: Pause = Field(default_factory=Pause)

    model_config = ConfigDict(extra="forbid", ignored_types=(cached_property,))

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f'"{value}" is not a time zone like Europe/Copenhagen') from None
        return value

    @model_validator(mode="after")
    def _calendar_builds(self) -> Agreement:
        try:
            self.calendar  # noqa: B018 - building it checks holiday country and closed days
        except ValueError as error:
            raise ValueError(f"business_hours: {error}") from None
        return self

    def business(self, span: Span) -> timedelta:
        """A span of the agreement in business time: `2d` is two days of opening hours."""
        if span.unit == "d":
            return self.calendar.business_days(span.amount)
        return span.wall

    @cached_property
    def calendar(self) -> BusinessCalendar:
        hours = self.business_hours
        if hours is None:
            return BusinessCalendar.always(self.timezone)
        return BusinessCalendar(
            self.timezone,
            days=[WEEKDAYS.index(day) for day in hours.days],
            start=hours.start,
            end=hours.end,
            holidays_country=hours.holidays,
            closed=hours.closed,
        )

    def window(self, clock: str) -> timedelta:
        """How long a clock runs, in business time."""
        return self.business(getattr(self.sla, f"{clock}_within"))

    def unreminded(self) -> list[str]:
        """The clocks `remind_before` cannot remind for: it is as long as their window."""
        ahead = self.business(self.sla.remind_before)
        return [clock for clock in CLOCKS if ahead and ahead >= self.window(clock)]

    def contradictions(self) -> list[tuple[tuple[str, ...], str]]:
        """What each key allows alone but the agreement as a whole cannot keep, by place."""
        found = []
        remind = self.sla.remind_before
        if all(self.business(remind) > self.window(clock) for clock in CLOCKS):
            windows = ", ".join(f"{c} {getattr(self.sla, f'{c}_within')}" for c in CLOCKS)
            found.append(
                (
                    ("sla", "remind_before"),
                    f"{remind} is longer than every window ({windows}), so no clock would ever "
                    f"send a reminder: make it shorter than the windows it should remind for, "
                    f"or leave it out for no reminders",
                )
            )
        for seller in self.routing.weights:
            if seller not in self.people.sales:
                found.append(
                    (
                        ("routing", "weights", seller),
                        f"{seller} is not in people.sales: only sellers get leads, so a "
                        f"weight can only be given to one of them",
                    )
                )
        shortfall = self.consequences.marketing_shortfall
        if shortfall is not None and self.marketing_commitment is None:
            found.append(
                (
                    ("consequences", "marketing_shortfall"),
                    f"{shortfall * 100:g}% behind what? There is no marketing_commitment: add "
                    f"marketing_commitment.qualified_leads_per_month, or leave this key out",
                )
            )
        return found

    def feedback_label(self, code: str | None) -> str | None:
        """The words for a feedback reason's code; a code no longer in the agreement shows as
        itself."""
        return _label(self.feedback_reasons, code)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def roles_of(self, user: str) -> set[str]:
        """Every role the agreement gives a person (by platform id); one may hold several."""
        people = self.people
        roles = set()
        if user == people.sales_manager:
            roles.add("sales_manager")
        if user == people.ceo:
            roles.add("ceo")
        if user in people.sales:
            roles.add("sales")
        if user in people.marketing:
            roles.add("marketing")
        return roles
