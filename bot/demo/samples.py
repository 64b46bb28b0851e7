"""Twenty leads as a Nordic marketing team hands them over: most fit the example agreement,
some do not (too small, the wrong country, industry or role, too early), each with what
the person did before (webinars, downloads, pages read).

The companies and people are made up; any likeness to a real one is chance.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

# name, title, company, country, industry, employees, revenue, stage, source, phone, doings
_LEADS: list[tuple[Any, ...]] = [
    (
        "Mette Hansen",
        "CIO",
        "Nordlys Maskinfabrik A/S",
        "DK",
        "manufacturing",
        240,
        48e6,
        "solution_seeking",
        "webinar",
        "+45 32 12 34 56",
        [("webinar", "Industry 4.0 in practice"), ("download", "QC checklist")],
    ),
    (
        "Lars Nyberg",
        "IT manager",
        "Skogsbruk Norr AB",
        "SE",
        "manufacturing",
        610,
        155e6,
        "ready_to_buy",
        "pricing page",
        "+46 8 555 123 45",
        [("page", "Pricing"), ("page", "Case: Volvo supplier"), ("demo request", "Wants a demo")],
    ),
    (
        "Ingrid Solberg",
        "CMO",
        "Fjordkraft Digital AS",
        "NO",
        "software",
        130,
        21e6,
        "problem_aware",
        "LinkedIn ad",
        "+47 22 33 44 55",
        [("download", "Lead scoring guide")],
    ),
    (
        "Jens Østergaard",
        "IT manager",
        "Vestjysk Stål A/S",
        "DK",
        "manufacturing",
        75,
        9.5e6,
        "solution_seeking",
        "trade fair",
        "+45 97 12 88 00",
        [("trade fair", "HI Industri Herning"), ("page", "Integrations")],
    ),
    (
        "Sofia Lindqvist",
        "HR manager",
        "Kvarnby Livsmedel AB",
        "SE",
        "manufacturing",
        320,
        64e6,
        "problem_aware",
        "newsletter",
        "+46 40 123 456",
        [("newsletter", "Onboarding on the factory floor"), ("page", "HR module")],
    ),
    (
        "Ole Kristiansen",
        "CIO",
        "Bergen Subsea Systems AS",
        "NO",
        "manufacturing",
        1450,
        380e6,
        "ready_to_buy",
        "partner referral",
        "+47 55 20 30 40",
        [("meeting", "Partner intro"), ("download", "Security whitepaper"), ("page", "SLA")],
    ),
    (
        "Freja Mortensen",
        "CMO",
        "Aarhus Cloudworks ApS",
        "DK",
        "software",
        60,
        7e6,
        "solution_seeking",
        "webinar",
        "+45 86 12 34 00",
        [("webinar", "From MQL to SQL in a week")],
    ),
    (
        "Karin Holm",
        "IT manager",
        "Göta Verkstäder AB",
        "SE",
        "manufacturing",
        890,
        210e6,
        "solution_seeking",
        "Google search",
        "+46 31 700 12 00",
        [("page", "Manufacturing"), ("download", "ROI calculator")],
    ),
    (
        "Henrik Dahl",
        "CIO",
        "Trondheim Automasjon AS",
        "NO",
        "software",
        210,
        41e6,
        "problem_aware",
        "podcast",
        "+47 73 10 20 30",
        [("podcast", "Nordic SaaS Talk #42")],
    ),
    (
        "Camilla Friis",
        "HR manager",
        "Odense Emballage A/S",
        "DK",
        "manufacturing",
        150,
        30e6,
        "ready_to_buy",
        "webinar",
        "+45 66 11 22 33",
        [("webinar", "Shift planning without spreadsheets"), ("page", "Pricing")],
    ),
    (
        "Anders Berg",
        "IT manager",
        "Malmö Mjukvara AB",
        "SE",
        "software",
        95,
        12e6,
        "solution_seeking",
        "G2 review",
        "+46 40 660 70 80",
        [("page", "Compare plans")],
    ),
    (
        "Maja Thomsen",
        "CIO",
        "Sønderborg Elektronik A/S",
        "DK",
        "manufacturing",
        2200,
        610e6,
        "solution_seeking",
        "conference",
        "+45 74 12 12 12",
        [("conference", "Danish Digital Summit"), ("download", "Reference architecture")],
    ),
    (
        "Eirik Haugen",
        "CMO",
        "Stavanger Energi Data AS",
        "NO",
        "software",
        340,
        88e6,
        "ready_to_buy",
        "webinar",
        "+47 51 50 60 70",
        [("webinar", "Attribution that sales believes"), ("demo request", "Q1 start")],
    ),
    (
        "Emma Sjöberg",
        "IT manager",
        "Uppsala Precision AB",
        "SE",
        "manufacturing",
        180,
        35e6,
        "problem_aware",
        "newsletter",
        "+46 18 470 00 00",
        [("newsletter", "Downtime costs")],
    ),
    # Not qualified: too small, wrong country, industry, role or stage.
    (
        "Peter Juul",
        "CEO",
        "Juul & Søn Tømrer ApS",
        "DK",
        "construction",
        12,
        1.8e6,
        "problem_aware",
        "Facebook ad",
        "+45 40 12 34 56",
        [("page", "Blog: 5 signs")],
    ),
    (
        "Laura Schmidt",
        "CIO",
        "Kieler Werft Technik GmbH",
        "DE",
        "manufacturing",
        400,
        90e6,
        "solution_seeking",
        "trade fair",
        "+49 431 123456",
        [("trade fair", "Hannover Messe")],
    ),
    (
        "Mikko Virtanen",
        "IT manager",
        "Tampere Koneet Oy",
        "FI",
        "manufacturing",
        260,
        52e6,
        "ready_to_buy",
        "webinar",
        "+358 3 123 4567",
        [("webinar", "Industry 4.0 in practice")],
    ),
    (
        "Sara Nilsson",
        "Student",
        "Lunds Universitet",
        "SE",
        "education",
        7500,
        None,
        "unaware",
        "download",
        "+46 46 222 00 00",
        [("download", "Thesis data request")],
    ),
    (
        "Rasmus Krogh",
        "Office assistant",
        "Herning Møbler A/S",
        "DK",
        "manufacturing",
        85,
        14e6,
        "solution_seeking",
        "chat",
        "+45 97 20 30 40",
        [("chat", "Asked for a brochure")],
    ),
    (
        "Nora Lie",
        "CMO",
        "Oslo Retail Group AS",
        "NO",
        "retail",
        45,
        6e6,
        "unaware",
        "giveaway",
        "+47 23 45 67 89",
        [("giveaway", "Conference raffle")],
    ),
]


_PLAIN = str.maketrans({"ø": "o", "å": "a", "æ": "ae", "ö": "o", "ä": "a", "&": ""})


def _email(name: str, company: str, country: str) -> str:
    """first-name@company.tld, in the letters an address may hold."""
    first = name.split()[0].lower().translate(_PLAIN)
    domain = company.split()[0].lower().translate(_PLAIN)
    return f"{first}@{domain}.{country.lower()}"


def sample_leads(now: datetime) -> list[dict[str, Any]]:
    """The twenty leads as bodies for `POST /api/leads`, their activity in the days before
    `now`. Their `external_id`s are fixed: a second batch is recognised, not handed over twice.
    """
    bodies = []
    for number, lead in enumerate(_LEADS, 1):
        name, title, company, country, industry, employees, revenue, stage = lead[:8]
        source, phone, doings = lead[8:]
        activity = [
            {
                "at": (now - timedelta(days=2 * (len(doings) - i), hours=number % 7)).isoformat(),
                "kind": kind,
                "detail": detail,
            }
            for i, (kind, detail) in enumerate(doings)
        ]
        body = {
            "external_id": f"demo-sample-{number:02d}",
            "name": name,
            "email": _email(name, company, country),
            "title": title,
            "company": company,
            "country": country,
            "industry": industry,
            "employees": employees,
            "buying_stage": stage,
            "source": source,
            "phone": phone,
            "activity": activity,
        }
        if revenue is not None:
            body["revenue"] = revenue
        bodies.append(body)
    return bodies
