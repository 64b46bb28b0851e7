"""The rules of the qualified-lead definition: one vocabulary, one code per rule.

The definition (`qualified_lead` in agreement.yml), qualification, the feedback form's
"missed rules", the scorecard and privacy all name a rule by its code here. Codes are stored
in the database, so they never change; the words people read live in `bot/texts`.
"""

from enum import StrEnum
from typing import Any, TypedDict


class Rule(StrEnum):
    INDUSTRY = "industry"
    GEOGRAPHY = "geography"
    COMPANY_SIZE = "company_size"
    CONTACT_ROLE = "contact_role"
    BUDGET = "budget"
    CHALLENGES = "challenges"
    BUYING_STAGE = "buying_stage"


LABELS: dict[Rule, str] = {
    Rule.INDUSTRY: "industry",
    Rule.GEOGRAPHY: "country",
    Rule.COMPANY_SIZE: "company size",
    Rule.CONTACT_ROLE: "contact role",
    Rule.BUDGET: "budget",
    Rule.CHALLENGES: "challenges",
    Rule.BUYING_STAGE: "buying stage",
}
"""What the feedback form and the scorecard call each rule."""

PERSONAL_FACTS: frozenset[str] = frozenset({"title"})
"""Facts that quote a person's own words: erasure removes them, keeps the rule.

The others are what the scorecard keeps of a forgotten lead anyway (country, industry, size,
buying stage) or the definition's own values."""


LEGACY = "legacy"
"""The code of a reason stored as words before reasons had codes, that no rule could be read
from (see migration 0008): its only fact is the `text`."""


class Reason(TypedDict):
    """Why a lead fails one rule, as stored: the rule's code and the facts behind it."""

    code: str
    facts: dict[str, Any]


def reason(rule: Rule, **facts: Any) -> Reason:
    return {"code": rule.value, "facts": facts}


def label(code: str) -> str:
    """The words for a rule's code; a code this Baton does not know shows as itself."""
    try:
        return LABELS[Rule(code)]
    except ValueError:
        return code


def known(code: str) -> bool:
    return code in Rule._value2member_map_
