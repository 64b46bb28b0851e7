"""Loading and validating agreement.yml: every error at once, each with its line and key."""

from datetime import time, timedelta
from pathlib import Path

import pytest

from bot.agreement_file import AgreementError, load_agreement, parse_agreement
from bot.durations import Span, parse_duration
from bot.slack.addresses import check_address
from tests.support import AGREEMENT

EXAMPLE = Path(__file__).resolve().parent.parent / "agreement.example.yml"

BUSINESS_HOURS = """
business_hours:
  days: [mon, tue, wed, thu, fri]
  start: "08:00"
  end: "16:00"
"""


def problems_of(text: str) -> list[str]:
    """The problems `baton check` reports: Slack's ids checked as the adapter checks them."""
    with pytest.raises(AgreementError) as caught:
        parse_agreement(text, addresses=check_address)
    assert caught.value.problems
    return caught.value.problems


def only_problem(text: str) -> str:
    problems = problems_of(text)
    assert len(problems) == 1, problems
    return problems[0]


def only_problem_without_platform(text: str) -> str:
    with pytest.raises(AgreementError) as caught:
        parse_agreement(text)
    (problem,) = caught.value.problems
    return problem


def line_of(text: str, needle: str) -> int:
    """1-based line of the first line of `text` that contains `needle`."""
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def test_example_parses():
    agreement = parse_agreement(EXAMPLE.read_text(encoding="utf-8"), str(EXAMPLE))
    assert agreement.timezone == "Europe/Copenhagen"
    assert agreement.channels.sales == "C0SALES"
    assert agreement.sla.claim_within == Span(1, "h")
    assert agreement.business_hours is not None
    assert agreement.business_hours.holidays == "DK"
    assert agreement.sla.escalation[-1].notify == "ceo"


def test_example_keeps_norway_as_a_string():
    agreement = load_agreement(EXAMPLE)
    assert agreement.qualified_lead.countries == ["DK", "SE", "NO"]
    assert all(isinstance(code, str) for code in agreement.qualified_lead.countries)


def test_real_booleans_still_work():
    agreement = parse_agreement(
        AGREEMENT.replace("qualified_lead:\n", "qualified_lead:\n  budget_required: true\n")
    )
    assert agreement.qualified_lead.budget_required is True


def test_support_agreement_parses(agreement):
    assert agreement.people.sales == ["U0SELLER1", "U0SELLER2", "U0SELLER3"]
    assert agreement.business_hours is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0s", timedelta(0)),
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("4h", timedelta(hours=4)),
        ("2d", timedelta(days=2)),
        ("1.5h", timedelta(minutes=90)),
        (0, timedelta(0)),
    ],
)
def test_durations_parse(text, expected: timedelta):
    assert parse_duration(text).wall == expected


def test_duration_keeps_its_unit():
    assert parse_duration("2d") == Span(2, "d")
    assert str(parse_duration("1.5h")) == "1.5h"


@pytest.mark.parametrize("text", ["4 hours", "-1h", "4", "h", "4H", "4w", "", "1e3s", True, None])
def test_bad_durations_are_refused(text):
    with pytest.raises(ValueError, match="is not a duration like 4h"):
        parse_duration(text)


SMALL = """\
timezone: Europe/Copenhagen
channels: {sales: C0SALES, marketing: C0MKTG}
people:
  sales_manager: U0MANAGER
  ceo: U0CEO
  sales: [U0SELLER1]
sla:
  claim_within: 1h
  contact_within: 4h
  feedback_within: 2d
feedback_reasons: [duplicate]
"""


def test_small_agreement_parses():
    agreement = parse_agreement(SMALL)
    assert agreement.sla.remind_before == Span(0, "s")
    assert agreement.qualified_lead.countries is None


def test_error_names_file_line_and_path():
    text = SMALL.replace("contact_within: 4h", "contact_within: 4 hours")
    problem = only_problem(text)
    assert problem.startswith("agreement.yml:9: sla.contact_within: ")
    assert "is not a duration like 4h" in problem


def test_error_uses_the_given_source_name():
    text = SMALL.replace("contact_within: 4h", "contact_within: -1h")
    with pytest.raises(AgreementError) as caught:
        parse_agreement(text, "/etc/baton/agreement.yml")
    (problem,) = caught.value.problems
    assert problem.startswith("/etc/baton/agreement.yml:9: sla.contact_within: ")
    assert str(caught.value).startswith("/etc/baton/agreement.yml: ")


def with_business_hours(**keys: str) -> str:
    body = "".join(f"\n  {key}: {value}" for key, value in keys.items())
    return f"{SMALL}business_hours:{body}\n"


@pytest.mark.parametrize(
    ("text", "path", "needle", "message"),
    [
        (
            SMALL.replace("Europe/Copenhagen", "Mars/Olympus"),
            "timezone",
            "timezone:",
            "is not a time zone like Europe/Copenhagen",
        ),
        (
            with_business_hours(holidays="XX"),
            "business_hours.holidays",
            "holidays:",
            "is not a country the holidays package knows",
        ),
        (
            with_business_hours(start='"17:00"', end='"09:00"'),
            "business_hours",
            "business_hours:",
            "start 17:00 must be before end 09:00",
        ),
        (
            SMALL.replace(
                "feedback_within: 2d",
                "feedback_within: 2d\n  escalation:\n    - {after: 0m, notify: cfo}",
            ),
            "sla.escalation.0.notify",
            "notify: cfo",
            '"cfo" names nobody',
        ),
        (
            SMALL.replace("claim_within: 1h", "claim_within: -1h"),
            "sla.claim_within",
            "claim_within",
            "is not a duration like 4h",
        ),
        (
            SMALL.replace("claim_within: 1h", "claim_within: soon"),
            "sla.claim_within",
            "claim_within",
            "is not a duration like 4h",
        ),
        (
            SMALL.replace("sales: C0SALES", "sales: '#sales'"),
            "channels.sales",
            "channels:",
            "is a channel name, not a Slack channel ID",
        ),
        (
            SMALL.replace("ceo: U0CEO", "ceo: '@ceo'"),
            "people.ceo",
            "ceo:",
            "is not a Slack user ID",
        ),
        (SMALL + "colour: blue\n", "colour", "colour:", "is not a key of the agreement"),
        (
            SMALL.replace("  claim_within: 1h\n", ""),
            "sla.claim_within",
            "sla:",
            "is required",
        ),
        (
            SMALL.replace("sla:", "sla:\n  claim_whithin: 1h"),
            "sla.claim_whithin",
            "claim_whithin",
            "is not a key of the agreement",
        ),
        (
            with_business_hours(closed='["24-12"]'),
            "business_hours.closed",
            "closed:",
            "is not a day like",
        ),
    ],
)
def test_each_bad_key_is_refused_with_its_path(text: str, path: str, needle: str, message: str):
    problem = only_problem(text)
    assert problem.startswith(f"agreement.yml:{line_of(text, needle)}: {path}: "), problem
    assert message in problem


@pytest.mark.parametrize(
    ("old", "new", "path", "needle", "message"),
    [
        (
            "countries: [DK, SE, NO]",
            "countries: [Denmark, SE, Norge]",
            "qualified_lead.countries",
            "countries:",
            '"Denmark" is not a country code: write DK; "Norge" is not a country code: write NO',
        ),
        (
            "countries: [DK, SE, NO]",
            "countries: [DK, Atlantis]",
            "qualified_lead.countries",
            "countries:",
            '"Atlantis" is not an ISO 3166 country code like DK',
        ),
        (
            "max_employees: 5000",
            "max_employees: 20",
            "qualified_lead.max_employees",
            "max_employees:",
            "20 is below min_employees 50: no company could qualify",
        ),
        (
            "claim_within: 1h",
            "claim_within: 0m",
            "sla.claim_within",
            "claim_within:",
            "a window of 0m makes every lead overdue the moment it arrives",
        ),
        (
            "feedback_within: 2d",
            "feedback_within: 0s",
            "sla.feedback_within",
            "feedback_within:",
            "a window of 0s makes every lead overdue",
        ),
        (
            "remind_before: 30m",
            "remind_before: 3d",
            "sla.remind_before",
            "remind_before:",
            "3d is longer than every window (claim 1h, contact 4h, feedback 2d), so no clock "
            "would ever send a reminder",
        ),
        (
            "marketing: C0MKTG",
            "marketing: U0SELLER1",
            "channels.marketing",
            "channels:",
            "\"U0SELLER1\" is a person's ID, not a channel's: use its channel ID (C…)",
        ),
        (
            "ceo: U0CEO",
            "ceo: C0CEO",
            "people.ceo",
            "ceo:",
            "\"C0CEO\" is a channel's ID, not a user's: use their Slack member ID (U…)",
        ),
        (
            "sales: [U0SELLER1, U0SELLER2, U0SELLER3]",
            "sales: [U0SELLER1, G0SELLERS]",
            "people.sales.1",
            "U0SELLER1, G0SELLERS",
            "\"G0SELLERS\" is a channel's ID, not a user's",
        ),
        (
            "ceo: U0CEO",
            "ceo: anna@",
            "people.ceo",
            "ceo:",
            '"anna@" is not a Slack user ID',
        ),
    ],
)
def test_an_agreement_that_cannot_work_is_refused_with_its_line(
    old: str, new: str, path: str, needle: str, message: str
):
    assert old in AGREEMENT
    text = AGREEMENT.replace(old, new)
    problem = only_problem(text)
    assert problem.startswith(f"agreement.yml:{line_of(text, needle)}: {path}: "), problem
    assert message in problem


@pytest.mark.parametrize("ids", ["U0CEO", "W0CEO"])
def test_user_ids_may_start_with_u_or_w(ids: str):
    text = AGREEMENT.replace("ceo: U0CEO", f"ceo: {ids}")
    assert parse_agreement(text, addresses=check_address).people.ceo == ids


def test_without_a_platform_any_id_names_a_person_or_a_conversation_but_not_nothing():
    """The domain leaves the shape of ids to the chat platform's adapter."""
    teams = "29:1a2b3c4d5e6f-user"
    text = AGREEMENT.replace("ceo: U0CEO", f'ceo: "{teams}"').replace(
        "sales: C0SALES", 'sales: "19:abc@thread.tacv2"'
    )
    agreement = parse_agreement(text)
    assert (agreement.people.ceo, agreement.channels.sales) == (teams, "19:abc@thread.tacv2")
    empty = AGREEMENT.replace("ceo: U0CEO", 'ceo: ""')
    assert only_problem_without_platform(empty) == (
        f"agreement.yml:{line_of(empty, 'ceo:')}: people.ceo: is empty: give an id or an email "
        "address"
    )


def test_people_may_be_named_by_email_address():
    text = AGREEMENT.replace("ceo: U0CEO", "ceo: Anna@Example.DK ").replace(
        "sales: [U0SELLER1, U0SELLER2, U0SELLER3]", "sales: [U0SELLER1, per@example.dk]"
    )
    people = parse_agreement(text).people
    assert (people.ceo, people.sales) == ("anna@example.dk", ["U0SELLER1", "per@example.dk"])


def test_country_codes_in_any_case_are_kept_as_codes():
    text = AGREEMENT.replace("countries: [DK, SE, NO]", "countries: [dk, ' se', NO]")
    assert parse_agreement(text).qualified_lead.countries == ["DK", "SE", "NO"]


def test_a_reminder_as_long_as_a_window_means_no_reminder_for_that_clock():
    """The contract: only a reminder longer than every window is a mistake; one as long as a
    window switches that clock's reminder off."""
    agreement = parse_agreement(AGREEMENT.replace("remind_before: 30m", "remind_before: 1h"))
    assert agreement.unreminded() == ["claim"]
    text = AGREEMENT.replace("remind_before: 30m", "remind_before: 2d")
    assert parse_agreement(text).unreminded() == ["claim", "contact", "feedback"]


def test_a_reminder_is_weighed_in_business_time():
    """`remind_before: 9h` is longer than `2d` of 8-hour business days only by the wall clock;
    with opening hours of 8-16, two business days are 16 hours, so 9h still reminds."""
    text = SMALL.replace("feedback_within: 2d", "feedback_within: 2d\n  remind_before: 9h")
    assert parse_agreement(text + BUSINESS_HOURS).unreminded() == ["claim", "contact"]
    with pytest.raises(AgreementError):
        parse_agreement(text.replace("9h", "17h") + BUSINESS_HOURS)


def test_all_errors_are_reported_at_once():
    text = (
        SMALL.replace("Europe/Copenhagen", "Mars/Olympus")
        .replace("sales: C0SALES", "sales: '#sales'")
        .replace("claim_within: 1h", "claim_within: 4 hours")
        .replace("  feedback_within: 2d\n", "")
        + "colour: blue\n"
    )
    problems = problems_of(text)
    assert len(problems) == 5, problems
    paths = {problem.split(": ")[1] for problem in problems}
    assert paths == {
        "timezone",
        "channels.sales",
        "sla.claim_within",
        "sla.feedback_within",
        "colour",
    }
    for problem in problems:
        assert problem.split(":")[1].isdigit(), problem


def test_unquoted_clock_times_are_read_as_times():
    text = with_business_hours(start="08:00", end="16:00")
    agreement = parse_agreement(text)
    assert agreement.business_hours is not None
    assert agreement.business_hours.start == time(8)
    assert agreement.business_hours.end == time(16)


def test_unquoted_clock_times_base_60():
    text = with_business_hours(start="9:30", end="17:15")
    agreement = parse_agreement(text)
    assert agreement.business_hours is not None
    assert agreement.business_hours.start == time(9, 30)
    assert agreement.business_hours.end == time(17, 15)


def test_business_days_and_hours():
    agreement = parse_agreement(SMALL + BUSINESS_HOURS)
    assert agreement.business(Span(2, "d")) == timedelta(hours=16)
    assert agreement.business(Span(48, "h")) == timedelta(hours=48)
    assert agreement.business(Span(90, "m")) == timedelta(minutes=90)


def test_without_business_hours_the_clock_is_24_7():
    agreement = parse_agreement(SMALL)
    assert agreement.business_hours is None
    assert agreement.business(Span(2, "d")) == timedelta(days=2)
    assert agreement.business(Span(4, "h")) == timedelta(hours=4)


def test_invalid_yaml_gives_a_line_number():
    text = SMALL.replace("sales: [U0SELLER1]", "sales: [U0SELLER1")
    problem = only_problem(text)
    assert "not valid YAML" in problem
    assert problem.startswith("agreement.yml:")
    assert problem.split(":")[1].isdigit()


def test_yaml_that_is_not_a_mapping():
    assert "must be a YAML mapping" in only_problem("- just\n- a list\n")


def test_missing_file_says_to_set_baton_agreement(tmp_path: Path):
    missing = tmp_path / "agreement.yml"
    with pytest.raises(AgreementError) as caught:
        load_agreement(missing)
    (problem,) = caught.value.problems
    assert "BATON_AGREEMENT" in problem
    assert str(missing) in problem


def test_load_agreement_reports_the_file_path(tmp_path: Path):
    path = tmp_path / "agreement.yml"
    path.write_text(SMALL.replace("contact_within: 4h", "contact_within: 4 hours"), "utf-8")
    with pytest.raises(AgreementError) as caught:
        load_agreement(path)
    (problem,) = caught.value.problems
    assert problem.startswith(f"{path}:9: sla.contact_within: ")


def test_roles_of():
    agreement = parse_agreement(AGREEMENT)
    assert agreement.roles_of("U0MANAGER") == {"sales_manager"}
    assert agreement.roles_of("U0SELLER2") == {"sales"}
    assert agreement.roles_of("U0NOBODY") == set()


CONSEQUENCES = """consequences:
  reassign_after: 1h
  out_of_rotation_after: 3
  marketing_shortfall: 20%
"""


def test_consequences_and_pause_are_read_with_their_defaults():
    agreement = parse_agreement(AGREEMENT + CONSEQUENCES)
    assert agreement.consequences.reassign_after == Span(1, "h")
    assert agreement.consequences.out_of_rotation_after == 3
    assert agreement.consequences.marketing_shortfall == 0.2
    assert agreement.pause.longest == 14
    assert [r.code for r in agreement.pause.reasons] == [
        "customer_asked_to_be_called_later",
        "customer_out_of_office",
        "waiting_for_an_answer_from_the_customer",
    ]
    plain = parse_agreement(AGREEMENT)
    assert plain.consequences.reassign_after is None
    assert plain.consequences.marketing_shortfall is None


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("  reassign_after: soon", 'consequences.reassign_after: "soon" is not a duration'),
        ("  out_of_rotation_after: 0", "consequences.out_of_rotation_after: 0 breaches would"),
        ("  marketing_shortfall: lots", 'consequences.marketing_shortfall: "lots" is not a share'),
        ("  marketing_shortfall: 100%", "must be more than 0% and less than 100%"),
        ("  reassign_later: 1h", "consequences.reassign_later: is not a key of the agreement"),
    ],
)
def test_a_wrong_consequence_is_named_with_its_line(line: str, expected: str):
    text = AGREEMENT + "consequences:\n" + line + "\n"
    problem = only_problem_without_platform(text)
    assert f"agreement.yml:{line_of(text, line.strip())}:" in problem
    assert expected in problem


def test_a_shortfall_needs_a_commitment():
    text = AGREEMENT.replace("marketing_commitment: {qualified_leads_per_month: 8}\n", "")
    text += "consequences:\n  marketing_shortfall: 20%\n"
    problem = only_problem_without_platform(text)
    assert "consequences.marketing_shortfall" in problem
    assert "no marketing_commitment" in problem


def test_a_pause_is_bounded_by_the_agreement():
    problem = only_problem_without_platform(AGREEMENT + "pause: {longest: 120}\n")
    assert "pause.longest: 120 days: a pause lasts from 1 to 90 days" in problem
    reasons = parse_agreement(AGREEMENT + "pause: {reasons: [on a trade fair]}\n").pause.reasons
    assert [(r.code, r.label) for r in reasons] == [("on_a_trade_fair", "on a trade fair")]
