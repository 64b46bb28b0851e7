"""The shared definition of a qualified lead, applied the same way to every hand-over."""

import re
from dataclasses import dataclass, field
from typing import Protocol

from bot.agreement import QualifiedLead


class LeadFacts(Protocol):
    country: str | None
    industry: str | None
    employees: int | None
    title: str | None
    budget: str | None
    buying_stage: str | None


@dataclass(frozen=True)
class Verdict:
    reasons: list[str] = field(default_factory=list)

    @property
    def qualified(self) -> bool:
        return not self.reasons


def _listing(values: list[str]) -> str:
    return ", ".join(values)


def _same(value: str, allowed: list[str]) -> bool:
    return value.strip().casefold() in {option.casefold() for option in allowed}


def matches_role(title: str, roles: list[str]) -> bool:
    """A role counts when it stands as whole words in the title: "Group CIO", not "Cionet"."""
    return any(
        re.search(rf"(?<!\w){re.escape(role)}(?!\w)", title, re.IGNORECASE) for role in roles
    )


def _missing(what: str, wanted: str) -> str:
    return f"{what} is missing (the definition asks for {wanted})"


def qualify(lead: LeadFacts, rules: QualifiedLead) -> Verdict:
    """One human-readable reason per rule of the definition that the lead fails."""
    reasons: list[str] = []
    if rules.countries is not None:
        wanted = _listing(rules.countries)
        if not lead.country:
            reasons.append(_missing("country", wanted))
        elif lead.country.upper() not in rules.countries:
            reasons.append(f"country {lead.country} is not one of {wanted}")
    if rules.industries is not None:
        wanted = _listing(rules.industries)
        if not lead.industry:
            reasons.append(_missing("industry", wanted))
        elif not _same(lead.industry, rules.industries):
            reasons.append(f"industry {lead.industry} is not one of {wanted}")
    low, high = rules.min_employees, rules.max_employees
    if low is not None or high is not None:
        size = lead.employees
        if size is None:
            wanted = f"{low or 0}–{high if high is not None else '∞'} employees"
            reasons.append(_missing("company size", wanted))
        elif low is not None and size < low:
            reasons.append(f"company size {size} is below the minimum of {low} employees")
        elif high is not None and size > high:
            reasons.append(f"company size {size} is above the maximum of {high} employees")
    if rules.contact_roles:
        wanted = _listing(rules.contact_roles)
        if not lead.title:
            reasons.append(_missing("title", wanted))
        elif not matches_role(lead.title, rules.contact_roles):
            reasons.append(f"title {lead.title} matches none of the contact roles {wanted}")
    if rules.budget_required and not (lead.budget or "").strip():
        reasons.append(_missing("budget", "a confirmed budget"))
    if rules.buying_stages is not None:
        wanted = _listing(rules.buying_stages)
        if not lead.buying_stage:
            reasons.append(_missing("buying stage", wanted))
        elif not _same(lead.buying_stage, rules.buying_stages):
            reasons.append(f"buying stage {lead.buying_stage} is not one of {wanted}")
    return Verdict(reasons)
