"""CRM properties to the intake's fields: defaults, the agreement's overrides, every error."""

import pytest

from bot.agreement_file import AgreementError, parse_agreement
from bot.crm.mapping import ObjectRef, Unmappable, employees, flatten, plain, to_lead
from bot.crm_section import HUBSPOT_FIELDS, CrmConfigError, parse_crm
from tests.support import AGREEMENT

CONTACT = ObjectRef("hubspot", "contact", "81723")
PERSON = ObjectRef("pipedrive", "person", "45")


def hubspot_properties(**changes):
    properties = {
        "firstname": "Mette",
        "lastname": "Hansen",
        "email": "mette@nordlys.dk",
        "company": "Nordlys Maskinfabrik A/S",
        "jobtitle": "CIO",
        "phone": "+45 32 12 34 56",
        "country": "Denmark",
        "industry": "manufacturing",
        "numemployees": "100-500",
        "annualrevenue": "48000000",
        "hs_analytics_source": "ORGANIC_SEARCH",
        "hs_object_id": "81723",
    }
    return {**properties, **changes}


def test_hubspot_defaults_fill_every_standard_field():
    lead = to_lead(CONTACT, hubspot_properties(), parse_crm(None).fields_of("hubspot"))
    assert lead.external_id == "hubspot-contact-81723"
    assert (lead.name, lead.email, lead.company) == (
        "Mette Hansen",
        "mette@nordlys.dk",
        "Nordlys Maskinfabrik A/S",
    )
    assert (lead.title, lead.country, lead.phone) == ("CIO", "DK", "+4532123456")
    assert (lead.industry, lead.employees, lead.revenue) == ("manufacturing", 100, 48_000_000)
    assert lead.source == "ORGANIC_SEARCH"


def test_agreement_fields_override_and_add_to_the_defaults():
    crm = parse_crm(
        {
            "hubspot": {
                "fields": {
                    "employees": "numberofemployees",
                    "budget": "budget_range",
                    "buying_stage": "buying_stage",
                }
            }
        }
    )
    properties = hubspot_properties(
        numberofemployees="240", budget_range="50k", buying_stage="ready_to_buy"
    )
    lead = to_lead(CONTACT, properties, crm.fields_of("hubspot"))
    assert (lead.employees, lead.budget, lead.buying_stage) == (240, "50k", "ready_to_buy")


def test_a_lead_without_a_mapped_source_is_counted_under_the_crm():
    properties = hubspot_properties(hs_analytics_source="")
    assert to_lead(CONTACT, properties, parse_crm(None).fields_of("hubspot")).source == "hubspot"


def test_every_missing_or_bad_field_is_named_at_once_with_its_property():
    properties = hubspot_properties(email="", company=None, country="Atlantis", numemployees="lots")
    with pytest.raises(Unmappable) as raised:
        to_lead(CONTACT, properties, parse_crm(None).fields_of("hubspot"))
    by_field = {tuple(e["loc"][3:]): e["msg"] for e in raised.value.errors}
    assert set(by_field) == {("email",), ("company",), ("country",), ("employees",)}
    assert "hubspot contact 81723 has no value in email" in by_field[("email",)]
    assert "has no value in company" in by_field[("company",)]
    assert "Atlantis" in by_field[("country",)] and "(from country" in by_field[("country",)]
    assert "numemployees" in by_field[("employees",)]
    assert all(e["loc"][:3] == ["body", "crm", "hubspot"] for e in raised.value.errors)


def test_a_field_mapped_to_nothing_says_so():
    crm = parse_crm({"pipedrive": {"fields": {"company": "org.name"}}})
    with pytest.raises(Unmappable) as raised:
        to_lead(PERSON, {"name": "Sven Berg", "emails": "sven@berg.se"}, crm.fields_of("pipedrive"))
    assert [e["loc"][-1] for e in raised.value.errors] == ["company"]
    assert "org.name" in raised.value.errors[0]["msg"]


def test_pipedrive_values_are_taken_from_their_shapes():
    person = {
        "name": "Sven Berg",
        "emails": [
            {"label": "home", "value": "sven@home.se", "primary": False},
            {"label": "work", "value": "sven@berg.se", "primary": True},
        ],
        "phones": [{"label": "work", "value": "+46 8 123 456 78", "primary": True}],
        "job_title": "Group CIO",
        "custom_fields": {"a1b2c3": {"type": "monetary", "value": 90000, "currency": "SEK"}},
    }
    bag = flatten(person) | flatten({"name": "Berg AB", "address": {"country": "Sverige"}}, "org.")
    crm = parse_crm({"pipedrive": {"fields": {"revenue": "a1b2c3"}}})
    lead = to_lead(PERSON, bag, crm.fields_of("pipedrive"))
    assert (lead.email, lead.phone, lead.company) == ("sven@berg.se", "+46812345678", "Berg AB")
    assert (lead.country, lead.title, lead.revenue) == ("SE", "Group CIO", 90000)
    assert lead.external_id == "pipedrive-person-45"


@pytest.mark.parametrize(
    ("given", "count"),
    [
        ("50-100", 50),
        ("1000+", 1000),
        ("1,000-5,000", 1000),
        ("1.000-5.000", 1000),
        ("240", 240),
        ("240.0", 240),
        (240.0, 240),
        ("10 to 50", 10),
    ],
)
def test_size_bands_count_from_their_lower_bound(given, count):
    assert employees(given) == count


def test_plain_takes_the_primary_entry_and_drops_blanks():
    assert plain([{"value": "", "primary": True}, {"value": "b@x.dk"}]) == "b@x.dk"
    assert plain("  ") is None
    assert plain({"value": 3}) == 3


@pytest.mark.parametrize(
    "external_id",
    [
        "hubspot-contact-81723",
        "pipedrive-person-45",
        "pipedrive-lead-8c1f2a3b-4d5e-4f60-9a7b-0c1d2e3f4a5b",
    ],
)
def test_external_ids_name_their_object(external_id):
    ref = ObjectRef.parse(external_id)
    assert ref is not None and ref.external_id == external_id


@pytest.mark.parametrize(
    "external_id",
    [
        None,
        "crm-1",
        "hubspot-deal-4",
        "pipedrive-person-",
        "hubspot-contact-1/../../owners",
        "pipedrive-person-0",
        "pipedrive-lead-45",
    ],
)
def test_other_external_ids_name_no_crm_object(external_id):
    assert ObjectRef.parse(external_id) is None


def test_crm_section_errors_name_their_place():
    with pytest.raises(CrmConfigError) as raised:
        parse_crm(
            {
                "hubspot": {"fields": {"employes": "x"}, "status": {"rejectd": "UNQUALIFIED"}},
                "pipedrive": {"fields": {"email": []}, "labels": {}},
                "salesforce": {},
            }
        )
    problems = "\n".join(raised.value.problems)
    assert "crm.hubspot.fields: employes: not a field Baton takes" in problems
    assert "crm.hubspot.status: rejectd: not a step Baton writes back" in problems
    assert "crm.pipedrive.fields.email: " in problems
    assert "crm.pipedrive.labels: is not a key of the crm section" in problems
    assert "crm.salesforce: is not a key of the crm section" in problems


def test_statuses_default_for_hubspot_and_only_where_named_for_pipedrive():
    crm = parse_crm(
        {"hubspot": {"status": {"claimed": "OPEN"}}, "pipedrive": {"status": {"contacted": "Warm"}}}
    )
    assert crm.status_of("hubspot", "claimed") == "OPEN"
    assert crm.status_of("hubspot", "rejected") == "UNQUALIFIED"
    assert crm.status_of("pipedrive", "contacted") == "Warm"
    assert crm.status_of("pipedrive", "rejected") is None


def test_the_agreement_holds_the_crm_section_and_names_its_problems_by_line():
    assert parse_agreement(AGREEMENT).crm.fields_of("hubspot") == HUBSPOT_FIELDS
    text = AGREEMENT + "crm:\n  hubspot:\n    fields: {employes: numemployees}\n  salesforce: {}\n"
    with pytest.raises(AgreementError) as raised:
        parse_agreement(text)
    first, second = raised.value.problems
    assert first.startswith("agreement.yml:") and "crm.hubspot.fields: employes:" in first
    assert second.endswith("crm.salesforce: is not a key of the agreement")
