"""The shared definition of a qualified lead, rule by rule."""

from typing import Any

import pytest

from bot import wording
from bot.agreement import QualifiedLead
from bot.agreement_file import parse_agreement
from bot.qualification import matches_role, qualify
from bot.rules import Rule
from bot.schemas import LeadIn
from tests.support import AGREEMENT, GOOD_LEAD

RULES = parse_agreement(AGREEMENT).qualified_lead


def lead(**changes: Any) -> LeadIn:
    return LeadIn.model_validate({**GOOD_LEAD, **changes})


def reasons_of(**changes: Any) -> list[str]:
    """The reasons in words, as Marketing reads them."""
    return wording.reasons(qualify(lead(**changes), RULES).reasons)


def codes_of(**changes: Any) -> list[str]:
    return [reason["code"] for reason in qualify(lead(**changes), RULES).reasons]


def test_good_lead_qualifies():
    verdict = qualify(lead(), RULES)
    assert verdict.qualified
    assert verdict.reasons == []


def test_country_outside_the_definition():
    (reason,) = reasons_of(country="US")
    assert reason.startswith("country US")
    assert "DK, SE, NO" in reason


def test_norway_qualifies():
    assert reasons_of(country="no") == []


@pytest.mark.parametrize("industry", ["Manufacturing", "SOFTWARE", " software "])
def test_industry_is_case_insensitive(industry: str):
    assert reasons_of(industry=industry) == []


def test_industry_outside_the_definition():
    (reason,) = reasons_of(industry="retail")
    assert reason.startswith("industry retail")
    assert "manufacturing, software" in reason


def test_company_below_minimum():
    (reason,) = reasons_of(employees=49)
    assert "below the minimum of 50" in reason
    assert reason.startswith("company size 49")


def test_company_above_maximum():
    (reason,) = reasons_of(employees=5001)
    assert "above the maximum of 5000" in reason


@pytest.mark.parametrize("employees", [50, 5000])
def test_company_size_bounds_are_inclusive(employees: int):
    assert reasons_of(employees=employees) == []


def test_company_size_missing():
    (reason,) = reasons_of(employees=None)
    assert reason.startswith("company size is missing")
    assert "50" in reason and "5000" in reason


@pytest.mark.parametrize(
    "title",
    ["CIO", "Group CIO", "cio", "Senior IT Manager", "HR manager, Nordics", "CMO/CIO"],
)
def test_contact_role_matched_as_whole_words(title: str):
    assert reasons_of(title=title) == []


@pytest.mark.parametrize("title", ["Cionet coordinator", "Sales representative", "CMOS engineer"])
def test_contact_role_not_matched_inside_words(title: str):
    (reason,) = reasons_of(title=title)
    assert reason.startswith(f"title {title}")
    assert "CIO" in reason


def test_matches_role_directly():
    assert matches_role("Group CIO", ["CIO"])
    assert not matches_role("Cionet coordinator", ["CIO"])
    assert matches_role("Senior IT Manager", ["IT manager"])
    assert not matches_role("Senior IT Managers Assistant", ["CMO"])


def test_title_missing():
    (reason,) = reasons_of(title=None)
    assert reason.startswith("title is missing")


def test_budget_only_when_required():
    assert reasons_of(budget=None) == []
    rules = RULES.model_copy(update={"budget_required": True})
    (reason,) = qualify(lead(budget=None), rules).reasons
    assert reason == {"code": "budget", "facts": {}}
    assert wording.reason(reason).startswith("budget is missing")
    assert qualify(lead(budget="   "), rules).reasons == [reason]
    assert qualify(lead(budget="EUR 40k approved"), rules).qualified


def test_buying_stage_outside_the_definition():
    (reason,) = reasons_of(buying_stage="just_browsing")
    assert reason.startswith("buying stage just_browsing")


def test_buying_stage_case_insensitive():
    assert reasons_of(buying_stage="Ready_To_Buy") == []


@pytest.mark.parametrize(
    ("field", "what"),
    [
        ("country", "country"),
        ("industry", "industry"),
        ("employees", "company size"),
        ("title", "title"),
        ("buying_stage", "buying stage"),
    ],
)
def test_missing_fields_are_named(field: str, what: str):
    (reason,) = reasons_of(**{field: None})
    assert reason.startswith(f"{what} is missing")


def test_several_failures_give_several_reasons():
    reasons = reasons_of(
        country="US", industry="retail", employees=3, title="Intern", buying_stage=None
    )
    assert len(reasons) == 5
    rules = ("country", "industry", "company size", "title", "buying stage")
    assert all(reason.startswith(rule) for reason, rule in zip(reasons, rules, strict=True))


def test_everything_missing_gives_one_reason_per_rule():
    bare = LeadIn(name="A", email="a@example.com", company="C")
    rules = RULES.model_copy(update={"budget_required": True})
    reasons = wording.reasons(qualify(bare, rules).reasons)
    assert len(reasons) == 6
    assert all("is missing" in reason for reason in reasons)


def test_no_rules_qualifies_everything():
    bare = LeadIn(name="A", email="a@example.com", company="C")
    assert qualify(bare, QualifiedLead()).qualified
    assert qualify(lead(country="US", employees=1, title="Intern"), QualifiedLead()).qualified


def test_only_a_minimum():
    rules = QualifiedLead(min_employees=10)
    assert qualify(lead(employees=10**6), rules).qualified
    (reason,) = wording.reasons(qualify(lead(employees=None), rules).reasons)
    assert "10–∞" in reason


def test_challenges_only_when_required():
    assert reasons_of(challenges=None) == []
    rules = RULES.model_copy(update={"challenges_required": True})
    (reason,) = qualify(lead(challenges="  "), rules).reasons
    assert reason == {"code": "challenges", "facts": {}}
    assert wording.reason(reason).startswith("challenges are missing")
    assert qualify(lead(challenges="Onboarding takes three weeks"), rules).qualified


def test_challenges_required_is_read_from_the_agreement():
    text = AGREEMENT.replace("qualified_lead:\n", "qualified_lead:\n  challenges_required: true\n")
    assert parse_agreement(text).qualified_lead.challenges_required


@pytest.mark.parametrize(
    ("changes", "code", "facts"),
    [
        ({"country": "us"}, Rule.GEOGRAPHY, {"country": "US", "allowed": ["DK", "SE", "NO"]}),
        ({"country": None}, Rule.GEOGRAPHY, {"country": None, "allowed": ["DK", "SE", "NO"]}),
        (
            {"industry": "Retail"},
            Rule.INDUSTRY,
            {"industry": "Retail", "allowed": ["manufacturing", "software"]},
        ),
        ({"employees": 49}, Rule.COMPANY_SIZE, {"employees": 49, "min": 50, "max": 5000}),
        (
            {"title": "Intern"},
            Rule.CONTACT_ROLE,
            {"title": "Intern", "allowed": RULES.contact_roles},
        ),
        (
            {"buying_stage": "browsing"},
            Rule.BUYING_STAGE,
            {"buying_stage": "browsing", "allowed": RULES.buying_stages},
        ),
    ],
)
def test_a_reason_is_the_rules_code_and_its_facts(changes: dict, code: Rule, facts: dict):
    assert qualify(lead(**changes), RULES).reasons == [{"code": code.value, "facts": facts}]


def test_every_rule_has_words():
    for rule in Rule:
        facts = {"allowed": ["X"], rule.value: None, "employees": None, "min": 1, "max": None}
        facts |= {"country": None, "title": None}
        assert wording.reason({"code": rule.value, "facts": facts})


def test_an_unknown_code_shows_as_itself():
    assert wording.reason({"code": "mood", "facts": {}}) == "mood"
