"""The shared definition of a qualified lead, applied the same way to every hand-over."""

import re
from dataclasses import dataclass, field
from typing import Protocol

from bot.agreement import QualifiedLead
from bot.rules import Reason, Rule, reason


class LeadFacts(Protocol):
    country: str | None
    industry: str | None
    employees: int | None
    title: str | None
    budget: str | None
    challenges: str | None
    buying_stage: str | None


@dataclass(frozen=True)
class Verdict:
    reasons: list[Reason] = field(default_factory=list)
    """One per rule of the definition the lead fails: the rule's code and its facts."""

    @property
    def qualified(self) -> bool:
        return not self.reasons


def _same(value: str, allowed: list[str]) -> bool:
    return value.strip().casefold() in {option.casefold() for option in allowed}


def matches_role(title: str, roles: list[str]) -> bool:
    """A role counts when it stands as whole words in the title: "Group CIO", not "Cionet"."""
    return any(
        re.search(rf"(?<!\w){re.escape(role)}(?!\w)", title, re.IGNORECASE) for role in roles
    )


def _blank(value: str | None) -> bool:
    return not (value or "").strip()


def _outside(value: str | None, allowed: list[str] | None) -> bool:
    """A listed rule fails when the value is missing or none of the listed ones."""
    return allowed is not None and (not value or not _same(value, allowed))


def qualify(lead: LeadFacts, definition: QualifiedLead) -> Verdict:
    """One reason per rule of the definition that the lead fails, as codes and facts
    (`bot.rules`); the words for them are in `bot/texts/reasons`."""
    reasons: list[Reason] = []
    if _outside(lead.country, definition.countries):
        country = lead.country.upper() if lead.country else None
        reasons.append(reason(Rule.GEOGRAPHY, country=country, allowed=definition.countries))
    if _outside(lead.industry, definition.industries):
        industry = lead.industry or None
        reasons.append(reason(Rule.INDUSTRY, industry=industry, allowed=definition.industries))
    low, high = definition.min_employees, definition.max_employees
    size = lead.employees
    if (low is not None or high is not None) and (
        size is None or (low is not None and size < low) or (high is not None and size > high)
    ):
        reasons.append(reason(Rule.COMPANY_SIZE, employees=size, min=low, max=high))
    roles = definition.contact_roles
    if roles and (not lead.title or not matches_role(lead.title, roles)):
        reasons.append(reason(Rule.CONTACT_ROLE, title=lead.title or None, allowed=roles))
    if definition.budget_required and _blank(lead.budget):
        reasons.append(reason(Rule.BUDGET))
    if definition.challenges_required and _blank(lead.challenges):
        reasons.append(reason(Rule.CHALLENGES))
    if _outside(lead.buying_stage, definition.buying_stages):
        stage = lead.buying_stage or None
        reasons.append(
            reason(Rule.BUYING_STAGE, buying_stage=stage, allowed=definition.buying_stages)
        )
    return Verdict(reasons)
