"""The agreement between Sales and Marketing, loaded from YAML and validated on load.

Errors name the key and its line in the file, because the people who edit the
agreement are sales and marketing leads, not the engineers who run Baton.
"""

from __future__ import annotations

import re
from datetime import date, time, timedelta
from functools import cache, cached_property
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
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
_SLACK_ID = re.compile(r"^[A-Z0-9]{2,64}$")
# Slack's ids say what they name: U/W a person, C a channel, G a private channel or group, D a DM.
_PERSON, _CONVERSATION = "UW", "CGD"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_WHERE_IDS = {
    "user": "their Slack member ID (U…): in Slack, their profile → ⋮ → Copy member ID",
    "channel": "its channel ID (C…): channel details → the bottom of the About tab",
}


def is_email(value: str) -> bool:
    return bool(_EMAIL.match(value))


def _slack_id(kind: str):
    """A Slack id of the right kind, with a message that says what the value is instead.

    A person may be named by email address as well (in lower case: addresses are matched
    without regard to case); `bot.people` resolves it on the platform before Baton starts."""
    wanted, other = (_PERSON, _CONVERSATION) if kind == "user" else (_CONVERSATION, _PERSON)

    def check(value: object) -> str:
        text = value if isinstance(value, str) else ""
        if _SLACK_ID.match(text) and text[0] in wanted:
            return text
        if _SLACK_ID.match(text) and text[0] in other:
            named = "a person's" if kind == "channel" else "a channel's"
            raise ValueError(f'"{text}" is {named} ID, not a {kind}\'s: use {_WHERE_IDS[kind]}')
        if kind == "user" and _EMAIL.match(text.strip()):
            return text.strip().casefold()  # resolved on the platform: `bot.people`
        if kind == "channel" and text.startswith("#"):
            raise ValueError(
                f'"{text}" is a channel name, not a Slack channel ID: use {_WHERE_IDS["channel"]}'
            )
        raise ValueError(
            f'"{value}" is not a Slack {kind} ID (like {wanted[0]}0123ABC): use {_WHERE_IDS[kind]}'
        )

    return BeforeValidator(check)


UserId = Annotated[str, _slack_id("user")]
ChannelId = Annotated[str, _slack_id("channel")]


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
    sales: ChannelId
    marketing: ChannelId


class People(Section):
    """Who holds each role: a platform user id, or an email address until `bot.people`
    has resolved it."""

    sales_manager: UserId
    ceo: UserId
    sales: list[UserId] = Field(min_length=1)
    marketing: list[UserId] = Field(default_factory=list)


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


class Retention(Section):
    personal_data_days: int = Field(ge=1)


class Agreement(Section):
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
    crm: CrmSection = Field(default_factory=CrmSection)

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
        return found

    def feedback_label(self, code: str | None) -> str | None:
        """The words for a feedback reason's code; a code no longer in the agreement shows as
        itself."""
        if code is None:
            return None
        return next((r.label for r in self.feedback_reasons if r.code == code), code)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def roles_of(self, user: str) -> set[str]:
        """Every role the agreement gives a Slack user; one person may hold several."""
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


class AgreementError(Exception):
    """The agreement file cannot be used; `problems` has one line per error with its place."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(f"{path}: " + "; ".join(problems))


class _Loader(yaml.SafeLoader):
    """YAML 1.2 booleans only, so `countries: [DK, SE, NO]` keeps Norway."""


_Loader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _lines(node: yaml.Node, path: tuple[Any, ...] = ()) -> dict[tuple[Any, ...], int]:
    """Map every key path of the document to its 1-based line, for error messages."""
    found = {path: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*path, key.value)
            found[child] = key.start_mark.line + 1
            found.update({k: v for k, v in _lines(value, child).items() if k != child})
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            found.update(_lines(item, (*path, index)))
    return found


def _describe(error: dict[str, Any], lines: dict[tuple[Any, ...], int], file: str) -> str:
    loc = tuple(part for part in error["loc"] if not str(part).startswith("function-"))
    loc = tuple(part for part in loc if part not in ("literal['sales_manager','ceo','owner']",))
    place = ".".join(str(part) for part in loc) or "(top level)"
    line = next((lines[loc[:n]] for n in range(len(loc), -1, -1) if loc[:n] in lines), None)
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing":
        message = "is required"
    elif error["type"] == "extra_forbidden":
        message = "is not a key of the agreement"
    elif error["type"] == "literal_error" and loc and loc[-1] == "notify":
        message = f'"{error["input"]}" names nobody: use one of {", ".join(ROLES)}'
    where = f"{file}:{line}: " if line else f"{file}: "
    return f"{where}{place}: {message}"


def parse_agreement(text: str, source: str = "agreement.yml") -> Agreement:
    """Validate agreement text; raise AgreementError with every problem and its line."""
    try:
        node = yaml.compose(text, Loader=_Loader)
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise AgreementError(Path(source), [f"{source}{line}: not valid YAML: {problem}"]) from None
    if not isinstance(data, dict):
        raise AgreementError(Path(source), [f"{source}: the agreement must be a YAML mapping"])
    lines = _lines(node) if node is not None else {}
    try:
        agreement = Agreement.model_validate(data)
    except ValidationError as error:
        problems = [_describe(e, lines, source) for e in error.errors()]
        raise AgreementError(Path(source), problems) from None
    contradictions = agreement.contradictions()
    if contradictions:
        problems = [
            _describe({"loc": loc, "msg": message, "type": "contradiction"}, lines, source)
            for loc, message in contradictions
        ]
        raise AgreementError(Path(source), problems)
    return agreement


def place(path: Path, *keys: str | int) -> str:
    """`file:line: key.path` for a key of the agreement file, to name it in a message."""
    try:
        node = yaml.compose(path.read_text(encoding="utf-8"), Loader=_Loader)
    except (OSError, yaml.YAMLError):
        node = None
    line = _lines(node).get(keys) if node is not None else None
    named = ".".join(str(key) for key in keys)
    return f"{path}:{line}: {named}" if line else f"{path}: {named}"


def load_agreement(path: Path) -> Agreement:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AgreementError(
            path,
            [f"{path}: not found; set BATON_AGREEMENT or copy agreement.example.yml there"],
        ) from None
    return parse_agreement(text, str(path))
