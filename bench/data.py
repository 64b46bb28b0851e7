"""Realistic leads for benchmarks: Nordic B2B contacts with their history, clocks and messages.

    python -m bench.data --leads 1000000 --database-url sqlite:///big.db

makes the database (migrated to the current schema first) hold that many leads, with what
Baton would have stored for them: the hand-over and what happened since (events), the
claim/contact/feedback clocks (deadlines), missed deadlines (breaches), Sales' feedback and the
Slack messages that went out (outbox). About 40% of the leads meet the test agreement's
definition of a qualified lead, as a Marketing team that mostly hands over what was agreed.

Most leads are history (spread over three years, every clock resolved or given up on); the
rest are in flight, handed over in the last two weeks, with clocks still open. By default the
open clocks number about 10% of the leads (100k at 1M), all due an hour or more from `--now`,
so a Baton started on the database has nothing to do until then.

Reproducible: the same `--seed` and `--now` give the same rows. Leads are made in chunks of
10,000, chunk `k` from a generator seeded with (seed, k), so a database grows from 10k to 1M
leads without changing the first 10k (`--from 10000`). Rows go in with SQLAlchemy Core bulk
inserts on SQLite and COPY on PostgreSQL.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import sys
import time
import unicodedata
from collections import deque
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import KW_ONLY, dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from itertools import accumulate
from typing import Any

from sqlalchemy import Engine, create_engine, event, func, insert, select, text
from sqlmodel import SQLModel

import storage.models  # noqa: F401 - registers the tables on SQLModel.metadata
from bot.agreement import QualifiedLead
from bot.qualification import qualify
from storage.models import external_key, source_key

CHUNK = 10_000
ID_BLOCK = 1_000_000
"""Integer ids of chunk `k` are `k * ID_BLOCK + n`, so chunks never collide and can be re-made."""

SELLERS = tuple(f"U0SELLER{n:02d}" for n in range(1, 51))
MANAGER, CEO = "U0MANAGER", "U0CEO"
SALES_CHANNEL, MARKETING_CHANNEL = "C0SALES", "C0MKTG"
FEEDBACK_REASONS = (  # the codes of the agreement's feedback reasons, as Baton stores them
    "wrong_decision_maker",
    "no_relevant_need",
    "too_early_in_the_buying_process",
)

# Who hands over: mostly the Nordics, where the agreement says Sales sells.
COUNTRIES = {
    "DK": 32,
    "SE": 30,
    "NO": 24,
    "FI": 6,
    "IS": 1,
    "DE": 4,
    "NL": 1,
    "GB": 1,
    "US": 1,
}
FIRST_NAMES = {
    "DK": "Mette Søren Anne Lars Camilla Rasmus Louise Mikkel Sofie Jens Mads Line Frederik "
    "Ida Kasper Maja Anders Pernille Jesper Trine Henrik Signe Niels Katrine",
    "SE": "Anna Erik Maria Lars Karin Johan Eva Anders Sara Per Emma Nils Linnea Gustav "
    "Elin Oskar Ingrid Magnus Frida Björn Astrid Viktor Malin Henrik",
    "NO": "Ingrid Ole Kari Lars Silje Bjørn Marit Knut Hanne Per Nora Even Solveig Håkon "
    "Tuva Sindre Ragnhild Eirik Line Trond Åse Sverre Guro Magnus",
    "FI": "Aino Mikko Laura Juha Emilia Antti Sanna Timo Helmi Jari Venla Pekka Elina Ville",
    "IS": "Guðrún Jón Sigríður Sigurður Kristín Gunnar Anna Ólafur Helga Einar",
    "DE": "Julia Thomas Katrin Michael Sabine Stefan Anja Markus",
    "NL": "Sanne Daan Lotte Bram Eva Joris",
    "GB": "Emily James Charlotte Oliver Sophie Harry",
    "US": "Jessica Michael Ashley Christopher Amanda Joshua",
}
LAST_NAMES = {
    "DK": "Hansen Jensen Nielsen Pedersen Andersen Christensen Larsen Sørensen Rasmussen "
    "Jørgensen Petersen Madsen Kristensen Olsen Thomsen Poulsen Østergaard Frandsen",
    "SE": "Andersson Johansson Karlsson Nilsson Eriksson Larsson Olsson Persson Svensson "
    "Gustafsson Pettersson Lindqvist Lindberg Åberg Sjöberg Bergström",
    "NO": "Hansen Johansen Olsen Larsen Andersen Pedersen Nilsen Kristiansen Berg Haugen "
    "Hagen Johannessen Dahl Bakken Solberg Lie Strand Sæther",
    "FI": "Korhonen Virtanen Mäkinen Nieminen Mäkelä Hämäläinen Laine Heikkinen Koskinen",
    "IS": "Jónsdóttir Jónsson Sigurðardóttir Guðmundsson Gunnarsdóttir Ólafsson",
    "DE": "Müller Schmidt Schneider Fischer Weber Becker",
    "NL": "de Jong Jansen de Vries van den Berg Bakker",
    "GB": "Smith Jones Taylor Brown Wilson Evans",
    "US": "Johnson Williams Miller Davis Garcia Moore",
}
FIRST_NAMES_BY = {country: names.split() for country, names in FIRST_NAMES.items()}
LAST_NAMES_BY = {country: names.split() for country, names in LAST_NAMES.items()}
COMPANY_WORDS = (  # noqa: SIM905 - a line of words reads better than 40 strings
    "Nordlys Fjord Havbrise Skov Granit Vestkyst Østersø Polar Birk Eik Ask Lynge Kyst Vinter "
    "Bølge Sol Mølle Stjerne Tinde Fjell Älv Skär Ljung Berg Tall Gran Sjö Kulla Ruska Aalto "
    "Revontuli Hekla Katla Saga Runa Viking Nord Vest Tindra Lumi"
).split()
COMPANY_KINDS = {
    "manufacturing": "Maskinfabrik Industri Stål Plast Komponenter Metal Værktøj Precision",
    "software": "Data Software Systems Digital Cloud Analytics IT Labs",
    "logistics": "Logistik Transport Shipping Spedition Fragt",
    "retail": "Handel Retail Butikker Varehus",
    "healthcare": "Medical Care Pharma Diagnostik",
    "finance": "Finans Kapital Invest Forsikring",
    "energy": "Energi Vind Kraft Solar",
    "public sector": "Kommune Region Forvaltning",
    "education": "Akademi Skole Institute",
}
COMPANY_KINDS_BY = {industry: kinds.split() for industry, kinds in COMPANY_KINDS.items()}
SUFFIXES = {
    "DK": ("A/S", "ApS"),
    "SE": ("AB",),
    "NO": ("AS", "ASA"),
    "FI": ("Oy", "Oyj"),
    "IS": ("hf.", "ehf."),
    "DE": ("GmbH", "AG"),
    "NL": ("B.V.",),
    "GB": ("Ltd",),
    "US": ("Inc.", "LLC"),
}
TLDS = {"GB": "co.uk", "US": "com"}
PHONES = {  # calling code, national number length, first digits
    "DK": ("45", 8, "2345678"),
    "SE": ("46", 9, "7"),
    "NO": ("47", 8, "49"),
    "FI": ("358", 9, "4"),
    "IS": ("354", 7, "68"),
    "DE": ("49", 11, "1"),
    "NL": ("31", 9, "6"),
    "GB": ("44", 10, "7"),
    "US": ("1", 10, "2"),
}
INDUSTRIES = {
    "manufacturing": 45,
    "software": 37,
    "logistics": 6,
    "retail": 3,
    "healthcare": 3,
    "finance": 2,
    "energy": 2,
    "public sector": 1,
    "education": 1,
}
TITLES = {
    "CIO": 14,
    "IT manager": 16,
    "HR manager": 10,
    "CMO": 8,
    "Group CIO": 2,
    "Senior IT manager": 4,
    "HR manager, Nordics": 2,
    "CTO": 4,
    "Head of IT": 4,
    "Operations manager": 3,
    "Procurement manager": 2,
    "CFO": 2,
    "Plant manager": 2,
    "Quality manager": 2,
    "Marketing coordinator": 2,
    "Consultant": 1,
    "Student": 1,
    "": 2,
}
STAGES = {"unaware": 6, "problem_aware": 30, "solution_seeking": 44, "ready_to_buy": 16, "": 4}
SOURCES = {
    "webinar": 22,
    "whitepaper": 18,
    "website form": 20,
    "trade fair": 10,
    "LinkedIn ad": 12,
    "Google ad": 8,
    "referral": 6,
    "newsletter": 4,
}
CHANNELS_IN = {"api": 80, "csv": 15, "slack": 5}
ACTIVITY = {
    "page_view": ("Pricing", "Case study: Nordlys Maskinfabrik", "Integrations", "Security"),
    "download": ("QC checklist", "ERP buyer's guide", "ROI calculator", "Shift planning template"),
    "webinar": ("Industry 4.0 in practice", "Paperless quality control", "Cloud ERP in 45 min"),
    "email_click": ("Newsletter: November", "Invitation: customer day"),
    "trade_fair": ("HI Industri, Herning", "Elmia Subcontractor, Jönköping"),
}
CHALLENGES = (
    "Paper-based quality control across three plants",
    "Our ERP is 15 years old and nobody wants to touch it",
    "Shift planning in spreadsheets; overtime is out of control",
    "Onboarding 200 seasonal workers every spring",
    "No overview of machine downtime across sites",
    "Audits take weeks because documents are scattered",
    "Growing fast in Sweden and Norway; HR processes do not scale",
    "",
)
BUDGETS = ("", "", "", "approved for next year", "EUR 50-100k", "EUR 100-250k", "pending CFO")
NOTES = (
    "Good fit, booked a demo",
    "Spoke to the CIO, wants a proposal in Q1",
    "Not the decision-maker; IT manager reports to group IT in Stockholm",
    "Just downloaded a checklist, no project",
    "Call again after their ERP tender",
)


def _weighted(options: dict[str, int]) -> tuple[list[str], list[int]]:
    return list(options), list(accumulate(options.values()))


_W = {
    name: _weighted(table)
    for name, table in (
        ("country", COUNTRIES),
        ("industry", INDUSTRIES),
        ("title", TITLES),
        ("stage", STAGES),
        ("source", SOURCES),
        ("by", CHANNELS_IN),
    )
}


def _pick(rng: random.Random, name: str) -> str:
    names, cumulative = _W[name]
    return rng.choices(names, cum_weights=cumulative)[0]


_ASCII = str.maketrans({"ø": "o", "æ": "ae", "å": "aa", "ð": "d", "þ": "th", "ß": "ss"})


@cache
def _ascii(value: str) -> str:
    value = value.lower().translate(_ASCII)
    value = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    return "".join(ch if ch.isalnum() else "-" for ch in value).strip("-")


def default_rules() -> QualifiedLead:
    """The test agreement's definition of a qualified lead (tests/support.py)."""
    return QualifiedLead(
        countries=["DK", "SE", "NO"],
        industries=["manufacturing", "software"],
        min_employees=50,
        max_employees=5000,
        contact_roles=["CIO", "IT manager", "HR manager", "CMO"],
        buying_stages=["problem_aware", "solution_seeking", "ready_to_buy"],
    )


@dataclass(slots=True)
class _Facts:
    """What qualification reads, without the cost of validating a whole LeadIn."""

    country: str | None
    industry: str | None
    employees: int | None
    title: str | None
    budget: str | None
    buying_stage: str | None


def contact(
    rng: random.Random,
    *,
    received: datetime,
    rules: QualifiedLead | None = None,
    external_id: str | None = None,
) -> dict[str, Any]:
    """One lead as Marketing's tools hand it over (the body of `POST /api/leads`).

    With `rules`, the lead meets that definition of a qualified lead.
    """
    country = _pick(rng, "country")
    industry = _pick(rng, "industry")
    title = _pick(rng, "title")
    stage = _pick(rng, "stage")
    employees = max(1, min(60_000, int(rng.lognormvariate(5.4, 1.2))))
    if rules is not None:
        country = rng.choice(rules.countries) if rules.countries else country
        industry = rng.choice(rules.industries) if rules.industries else industry
        title = rng.choice(rules.contact_roles) if rules.contact_roles else title
        stage = rng.choice(rules.buying_stages) if rules.buying_stages else stage
        low, high = rules.min_employees or 1, rules.max_employees or 60_000
        employees = min(max(employees, low), high)
    first = rng.choice(FIRST_NAMES_BY[country])
    last = rng.choice(LAST_NAMES_BY[country])
    company_word = rng.choice(COMPANY_WORDS)
    company = (
        f"{company_word} {rng.choice(COMPANY_KINDS_BY[industry])} {rng.choice(SUFFIXES[country])}"
    )
    domain = f"{_ascii(company_word)}{rng.randint(1, 999)}.{TLDS.get(country, country.lower())}"
    code, digits, starts = PHONES[country]
    national = rng.choice(starts) + str(rng.randrange(10 ** (digits - 1))).zfill(digits - 1)
    revenue = round(employees * rng.uniform(90_000, 260_000), -3)
    body: dict[str, Any] = {
        "name": f"{first} {last}",
        "email": f"{_ascii(first)}.{_ascii(last)}@{domain}",
        "company": company,
        "title": title or None,
        "phone": f"+{code} {national[:2]} {national[2:4]} {national[4:]}",
        "country": country,
        "industry": industry,
        "employees": employees,
        "revenue": revenue,
        "profit": round(revenue * rng.uniform(-0.05, 0.15), -3),
        "buying_stage": stage or None,
        "source": _pick(rng, "source"),
        "challenges": rng.choice(CHALLENGES) or None,
        "budget": rng.choice(BUDGETS) or None,
        "activity": _activity(rng, received),
    }
    if external_id:
        body["external_id"] = external_id
    return body


def _activity(rng: random.Random, received: datetime) -> list[dict[str, str]]:
    steps = []
    at = received
    for _ in range(min(12, int(rng.expovariate(1 / 3)))):
        at -= timedelta(hours=rng.uniform(2, 24 * 20))
        kind = rng.choice(tuple(ACTIVITY))
        steps.append(
            {
                "at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "kind": kind,
                "detail": rng.choice(ACTIVITY[kind]),
            }
        )
    steps.reverse()
    return steps


@dataclass
class Rows:
    """One chunk of generated rows, table by table, in an order foreign keys accept."""

    lead: list[dict[str, Any]] = field(default_factory=list)
    deadline: list[dict[str, Any]] = field(default_factory=list)
    event: list[dict[str, Any]] = field(default_factory=list)
    breach: list[dict[str, Any]] = field(default_factory=list)
    feedback: list[dict[str, Any]] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)

    def tables(self) -> Iterable[tuple[str, list[dict[str, Any]]]]:
        for name in ("lead", "deadline", "event", "breach", "feedback", "outbox"):
            rows = getattr(self, name)
            if rows:
                yield name, rows

    def count(self) -> int:
        return sum(len(rows) for _, rows in self.tables())


@dataclass
class _Ids:
    """Deterministic integer ids inside a chunk's block."""

    base: int
    next: dict[str, int] = field(default_factory=dict)

    def __call__(self, table: str) -> int:
        value = self.next.get(table, 0) + 1
        self.next[table] = value
        return self.base + value


CLAIM_WINDOW, CONTACT_WINDOW, FEEDBACK_WINDOW = timedelta(hours=1), timedelta(hours=4), timedelta(2)
REMIND_BEFORE = timedelta(minutes=30)
OPEN_PER_IN_FLIGHT = 1.25  # handed_over 25% (two open clocks), claimed 35%, contacted 40%
HISTORY = timedelta(days=3 * 365)
IN_FLIGHT = timedelta(days=14)


@dataclass
class _Chunk:
    index: int
    _: KW_ONLY
    seed: int
    now: datetime
    rules: QualifiedLead
    size: int
    open_share: float
    qualified_share: float | None

    def __post_init__(self) -> None:
        self.rng = random.Random(f"{self.seed}:{self.index}")
        self.ids = _Ids(self.index * ID_BLOCK)
        self.rows = Rows()
        self.ts = 1_600_000_000 + self.index * 100_000

    def make(self) -> Rows:
        rng = self.rng
        drafts = []
        for n in range(self.size):
            forced = self.qualified_share is not None and rng.random() < self.qualified_share
            received = self.now - timedelta(seconds=rng.uniform(IN_FLIGHT.total_seconds(), 1e8))
            number = self.index * CHUNK + n
            body = contact(
                rng,
                received=received,
                rules=self.rules if forced else None,
                external_id=f"{rng.choice(('hubspot', 'pardot', 'form'))}-{number:07d}",
            )
            verdict = qualify(_Facts(*(body[k] for k in _FACTS)), self.rules)
            drafts.append((body, verdict.reasons, received))
        qualified = sum(1 for _, reasons, _ in drafts if not reasons)
        wanted = self.open_share * self.size / OPEN_PER_IN_FLIGHT
        in_flight = min(1.0, wanted / qualified) if qualified else 0.0
        for body, reasons, received in drafts:
            if reasons:
                self._unqualified(body, reasons, received)
            elif rng.random() < in_flight:
                received = self.now - timedelta(
                    seconds=rng.uniform(3600, IN_FLIGHT.total_seconds())
                )
                self._in_flight(body, received)
            else:
                self._history(body, received)
        return self.rows

    # one lead each ---------------------------------------------------------------------

    def _lead(self, body: dict[str, Any], reasons: list[str], received: datetime, **state) -> str:
        rng = self.rng
        lead_id = f"{rng.getrandbits(128):032x}"
        phone = body["phone"].replace(" ", "")
        self.rows.lead.append(
            {
                **body,
                "phone": phone,
                "external_key": external_key(body.get("external_id")),
                "source_key": source_key(body.get("source")),
                "id": lead_id,
                "qualified": not reasons,
                "reasons": reasons,
                "handed_over_by": _pick(rng, "by"),
                "received_at": received,
                "claimed_at": None,
                "contacted_at": None,
                "owner": None,
                "card_platform": None,
                "card_conversation": None,
                "card_message_id": None,
                "card_at": None,
                "recheck_on": None,
                "forgotten_at": None,
                **state,
            }
        )
        self._event(lead_id, received, "api", "handed_over", qualified=not reasons, reasons=reasons)
        return lead_id

    def _event(self, lead_id: str, at: datetime, actor: str, kind: str, **data: Any) -> None:
        self.rows.event.append(
            {"id": self.ids("event"), "lead_id": lead_id, "at": at, "actor": actor,
             "kind": kind, "data": data}
        )  # fmt: skip

    def _message(self, lead_id: str, kind: str, at: datetime, recipient: str | None, **payload):
        self.ts += 1
        sent = at + timedelta(seconds=self.rng.uniform(0.05, 0.6))
        self.rows.outbox.append(
            {
                "id": self.ids("outbox"),
                "lead_id": lead_id,
                "kind": kind,
                "recipient": recipient,
                "priority": 0,
                "payload": payload,
                "created_at": at,
                "next_attempt_at": None,
                "taken_until": None,
                "attempts": 1,
                "sent_at": sent,
                "platform": "slack",
                # a card and its thread are in the sales channel; a DM in the person's own
                "conversation": "D" + recipient[1:] if kind == "dm" else recipient or SALES_CHANNEL,
                "message_id": f"{self.ts}.{self.index % 1000:03d}{self.ts % 1000:03d}",
                "error": None,
            }
        )
        return sent

    def _card(self, lead_id: str, at: datetime) -> dict[str, Any]:
        sent = self._message(lead_id, "card", at, None)
        message_id = self.rows.outbox[-1]["message_id"]
        return {
            "card_platform": "slack",
            "card_conversation": SALES_CHANNEL,
            "card_message_id": message_id,
            "card_at": sent,
        }

    def _clock(
        self,
        lead_id: str,
        kind: str,
        opened: datetime,
        window: timedelta,
        *,
        met: datetime | None,
        owner: str | None,
    ) -> None:
        """A clock opened at `opened`; met at `met`, or still open (`met` None, due later)."""
        due = opened + window
        remind = due - REMIND_BEFORE
        row = {
            "id": self.ids("deadline"),
            "lead_id": lead_id,
            "kind": kind,
            "opened_at": opened,
            "due_at": due,
            "remind_at": remind,
            "reminded_at": None,
            "steps_done": 0,
            "next_at": None,
            "resolved_at": met,
            "breached_at": None,
            "extended_at": None,
            "extension_reason": None,
        }
        if met is None:  # in flight: due an hour or more from now, reminder not sent yet
            row["due_at"] = due = self.now + timedelta(seconds=self.rng.uniform(5400, 5 * 86400))
            row["remind_at"] = row["next_at"] = due - REMIND_BEFORE
        else:
            if met > remind:
                row["reminded_at"] = remind
            if met > due:
                row["breached_at"] = due
                row["steps_done"] = 1 if met < due + timedelta(hours=2) else 2
                self.rows.breach.append(
                    {
                        "id": self.ids("breach"),
                        "deadline_id": row["id"],
                        "lead_id": lead_id,
                        "kind": kind,
                        "owner": owner,
                        "due_at": due,
                        "recorded_at": due + timedelta(seconds=self.rng.uniform(0.1, 2)),
                        "resolved_at": met if met < self.now else None,
                    }
                )
                self._event(lead_id, due, "baton", "breached", clock=kind, owner=owner)
                for step in range(row["steps_done"]):
                    who = (MANAGER, CEO)[step]
                    at = due + timedelta(hours=2 * step)
                    self._event(lead_id, at, "baton", "escalated", clock=kind, step=step, user=who)
                    self._message(lead_id, "dm", at, who, template="escalation")
                if met >= self.now:  # never met: the ladder ran to its end
                    row["resolved_at"] = None
        self.rows.deadline.append(row)

    def _unqualified(self, body: dict[str, Any], reasons: list[str], received: datetime) -> None:
        lead_id = self._lead(body, reasons, received, stage="unqualified")
        self._message(lead_id, "post", received, MARKETING_CHANNEL, template="returned_to_nurture")

    def _in_flight(
        self, body: dict[str, Any], received: datetime, roll: float | None = None
    ) -> None:
        """A lead of the last two weeks, its card posted; `roll` < 0.25 leaves it unclaimed."""
        rng = self.rng
        roll = rng.random() if roll is None else roll
        owner = rng.choice(SELLERS)
        card = {
            "card_platform": "slack",
            "card_conversation": SALES_CHANNEL,
            "card_message_id": None,
        }
        if roll < 0.25:
            lead_id = self._lead(body, [], received, stage="handed_over", **card)
            self._clock(lead_id, "claim", received, CLAIM_WINDOW, met=None, owner=None)
            self._clock(lead_id, "contact", received, CONTACT_WINDOW, met=None, owner=None)
        else:
            claimed = received + timedelta(minutes=rng.uniform(1, 50))
            if roll < 0.6:
                lead_id = self._lead(
                    body, [], received, stage="claimed", owner=owner, claimed_at=claimed, **card
                )
                self._clock(lead_id, "claim", received, CLAIM_WINDOW, met=claimed, owner=None)
                self._clock(lead_id, "contact", received, CONTACT_WINDOW, met=None, owner=owner)
                self._event(lead_id, claimed, owner, "claimed")
            else:
                contacted = claimed + timedelta(minutes=rng.uniform(5, 180))
                lead_id = self._lead(
                    body, [], received, stage="contacted", owner=owner, claimed_at=claimed,
                    contacted_at=contacted, **card,
                )  # fmt: skip
                self._clock(lead_id, "claim", received, CLAIM_WINDOW, met=claimed, owner=None)
                for kind, opened, window, met in (
                    ("contact", received, CONTACT_WINDOW, contacted),
                    ("feedback", contacted, FEEDBACK_WINDOW, None),
                ):
                    self._clock(lead_id, kind, opened, window, met=met, owner=owner)
                self._event(lead_id, claimed, owner, "claimed")
                self._event(lead_id, contacted, owner, "contacted")
        self.rows.lead[-1].update(self._card(lead_id, received))

    def waiting(self) -> Rows:
        """Qualified leads handed over minutes ago, cards posted, nobody has claimed them."""
        for n in range(self.size):
            received = self.now - timedelta(seconds=self.rng.uniform(60, 1800))
            number = self.index * CHUNK + n
            body = contact(
                self.rng, received=received, rules=self.rules, external_id=f"waiting-{number:07d}"
            )
            self._in_flight(body, received, roll=0.0)
        return self.rows

    def _history(self, body: dict[str, Any], received: datetime) -> None:
        """A lead handed over long ago: claimed (late or not), contacted, feedback, an outcome."""
        rng = self.rng
        owner = rng.choice(SELLERS)
        never = self.now + timedelta(days=1)  # a clock never met
        claimed = received + timedelta(minutes=rng.lognormvariate(3.2, 1.0))
        roll = rng.random()
        if roll < 0.03:  # nobody ever claimed it
            lead_id = self._lead(body, [], received, stage="handed_over")
            self.rows.lead[-1].update(self._card(lead_id, received))
            self._clock(lead_id, "claim", received, CLAIM_WINDOW, met=never, owner=None)
            self._clock(lead_id, "contact", received, CONTACT_WINDOW, met=never, owner=None)
            return
        contacted = claimed + timedelta(minutes=rng.lognormvariate(4.6, 1.0))
        if roll < 0.07:
            stage, contacted_at = "claimed", None
        else:
            contacted_at = contacted
            stage = rng.choices(
                ("contacted", "accepted", "rejected", "nurture", "won", "lost"),
                cum_weights=(8, 35, 60, 75, 88, 100),
            )[0]
        lead_id = self._lead(
            body, [], received, stage=stage, owner=owner, claimed_at=claimed,
            contacted_at=contacted_at,
        )  # fmt: skip
        self.rows.lead[-1].update(self._card(lead_id, received))
        self._clock(lead_id, "claim", received, CLAIM_WINDOW, met=claimed, owner=None)
        self._event(lead_id, claimed, owner, "claimed")
        self._message(lead_id, "card", claimed, None)
        self._clock(
            lead_id, "contact", received, CONTACT_WINDOW, met=contacted_at or never, owner=owner
        )
        if contacted_at is None:
            return
        self._event(lead_id, contacted, owner, "contacted")
        given = contacted + timedelta(hours=rng.lognormvariate(3.0, 1.0))
        if stage == "contacted":
            self._clock(lead_id, "feedback", contacted, FEEDBACK_WINDOW, met=never, owner=owner)
            return
        self._clock(lead_id, "feedback", contacted, FEEDBACK_WINDOW, met=given, owner=owner)
        outcome = {"won": "accepted", "lost": "accepted"}.get(stage, stage)
        reason = rng.choice(FEEDBACK_REASONS) if outcome == "rejected" else None
        recheck = (given + timedelta(days=rng.choice((30, 60, 90)))).date()
        self.rows.feedback.append(
            {
                "id": self.ids("feedback"),
                "lead_id": lead_id,
                "by": owner,
                "at": given,
                "outcome": outcome,
                "reason": reason,
                "missed_rules": [],
                "note": rng.choice(NOTES),
                "recheck_on": recheck if outcome == "nurture" else None,
            }
        )
        if outcome == "nurture" and recheck > self.now.date():
            self.rows.lead[-1]["recheck_on"] = recheck
        elif outcome == "nurture":  # the day came: Marketing was told, the date cleared
            again = datetime.combine(recheck, datetime.min.time(), tzinfo=UTC)
            again += timedelta(hours=7)
            self._event(lead_id, again, "baton", "recheck")
            self._message(lead_id, "post", again, MARKETING_CHANNEL, template="recheck")
        self._event(lead_id, given, owner, "feedback", outcome=outcome, reason=reason)
        self._message(lead_id, "reply", given, None, template="feedback_thread")


_FACTS = ("country", "industry", "employees", "title", "budget", "buying_stage")


def chunk(
    index: int,
    *,
    seed: int,
    now: datetime,
    rules: QualifiedLead | None = None,
    size: int = CHUNK,
    open_share: float = 0.1,
    qualified_share: float | None = None,
) -> Rows:
    """Leads `index * CHUNK ...` and everything Baton stored about them."""
    return _Chunk(
        index,
        seed=seed,
        now=now,
        rules=rules or default_rules(),
        size=size,
        open_share=open_share,
        qualified_share=qualified_share,
    ).make()


def waiting(count: int, *, seed: int, now: datetime, index: int = 0) -> Rows:
    """`count` unclaimed qualified leads with their cards in the sales channel."""
    return _Chunk(
        index,
        seed=seed,
        now=now,
        rules=default_rules(),
        size=count,
        open_share=0.0,
        qualified_share=None,
    ).waiting()


# writing ---------------------------------------------------------------------------------

Prepared = dict[str, tuple[list[str], list[tuple[Any, ...]]]]
"""Rows as the database drivers take them: per table, its columns and one tuple per row."""


def _timestamp(value: datetime | None) -> str | None:
    """UTC as SQLAlchemy stores it on SQLite; PostgreSQL reads it in a UTC session."""
    if value is None:
        return None
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _day(value: Any) -> str | None:
    return None if value is None else value.isoformat()


def _converters(name: str, columns: list[str]) -> list[Any]:
    """Per column, how a Python value becomes what both drivers accept (None: as it is)."""
    from sqlalchemy import JSON, Boolean, Date

    from storage.types import UtcDateTime

    table = SQLModel.metadata.tables[name]
    found: list[Any] = []
    for column in columns:
        kind = table.c[column].type
        if isinstance(kind, UtcDateTime):
            found.append(_timestamp)
        elif isinstance(kind, JSON):
            found.append(_json)
        elif isinstance(kind, Boolean):
            found.append(int)
        elif isinstance(kind, Date):
            found.append(_day)
        else:
            found.append(None)
    return found


def prepare(rows: Rows) -> Prepared:
    prepared: Prepared = {}
    for name, data in rows.tables():
        columns = list(data[0])
        steps = list(enumerate(_converters(name, columns)))
        convert = [(n, f) for n, f in steps if f is not None]
        tuples = []
        for row in data:
            values = [row[column] for column in columns]
            for n, f in convert:
                if values[n] is not None:
                    values[n] = f(values[n])
            tuples.append(tuple(values))
        prepared[name] = (columns, tuples)
    return prepared


def loader(url: str) -> Engine:
    """An engine for bulk loads: on SQLite a big page cache and no fsync, on PostgreSQL UTC."""
    engine = create_engine(url)

    @event.listens_for(engine, "connect")
    def _session(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        if url.startswith("sqlite"):
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=OFF")
            cursor.execute("PRAGMA cache_size=-1000000")
        else:
            cursor.execute("SET TIME ZONE 'UTC'")
            cursor.execute("SET synchronous_commit = off")
            dbapi_connection.commit()
        cursor.close()

    return engine


def write(engine: Engine, prepared: Prepared) -> None:
    """One transaction per chunk: executemany of a Core insert on SQLite, COPY on PostgreSQL."""
    tables = SQLModel.metadata.tables
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for name, (columns, tuples) in prepared.items():
            if engine.dialect.name == "postgresql":
                quoted = ", ".join(f'"{column}"' for column in columns)
                with cursor.copy(f'COPY "{name}" ({quoted}) FROM STDIN') as copy:
                    for values in tuples:
                        copy.write_row(values)
            else:
                compiled = insert(tables[name]).compile(dialect=engine.dialect, column_keys=columns)
                order = [columns.index(key) for key in compiled.positiontup or ()]
                cursor.executemany(str(compiled), [[v[n] for n in order] for v in tuples])
        cursor.close()
        raw.commit()
    finally:
        raw.close()


def finish(engine: Engine) -> None:
    """After a load: PostgreSQL's id sequences past the inserted ids, fresh planner stats, and
    the visibility map that autovacuum keeps in production (an index-only scan reads a page
    of the table only where the map does not say all of it is visible). A bulk load leaves
    the map empty, and the test server runs with autovacuum off."""
    if engine.dialect.name != "postgresql":
        return
    with engine.begin() as connection:
        for name in ("deadline", "event", "breach", "feedback", "outbox"):
            connection.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                    f'GREATEST((SELECT max(id) FROM "{name}"), 1))'
                )
            )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        # Baton's tables by name: the whole database may hold other schemas besides this one.
        names = ", ".join(f'"{name}"' for name in SQLModel.metadata.tables)
        connection.execute(text(f"VACUUM (ANALYZE) {names}"))


def _made(index: int, options: dict[str, Any]) -> Prepared:
    return prepare(chunk(index, **options))


def grow(
    engines: Sequence[Engine],
    *,
    start: int,
    stop: int,
    seed: int,
    now: datetime,
    open_share: float = 0.1,
    qualified_share: float | None = None,
    progress: bool = False,
) -> int:
    """Add leads `start..stop` to every engine's database; return how many rows went in.

    A second process makes the next chunks while this one writes, each chunk made once.
    """
    if start % CHUNK:
        raise ValueError(f"start must be a multiple of {CHUNK}")
    indexes = range(start // CHUNK, (stop + CHUNK - 1) // CHUNK)
    written = 0
    began = time.monotonic()
    context = multiprocessing.get_context("spawn")
    options = {"seed": seed, "now": now, "open_share": open_share}
    options["qualified_share"] = qualified_share
    writers = [ThreadPoolExecutor(1) for _ in engines]  # SQLite and COPY overlap each other
    writing: list[Future[None]] = []
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        pending: deque[tuple[int, Future[Prepared]]] = deque()
        upcoming = iter(indexes)
        while True:
            while len(pending) < 2 and (index := next(upcoming, None)) is not None:
                size = min(CHUNK, stop - index * CHUNK)
                future = pool.submit(_made, index, {**options, "size": size})
                pending.append((index * CHUNK + size, future))
            if not pending:
                break
            done, future = pending.popleft()
            prepared = future.result()
            for write_future in writing:
                write_future.result()
            writing = [
                writer.submit(write, engine, prepared)
                for writer, engine in zip(writers, engines, strict=True)
            ]
            written += sum(len(tuples) for _, tuples in prepared.values())
            if progress and (sys.stdout.isatty() or done % 100_000 == 0 or done == stop):
                rate = (done - start) / max(1e-9, time.monotonic() - began)
                line = f"{done:,} leads, {written:,} rows, {rate:,.0f} leads/s"
                print("\r" + line if sys.stdout.isatty() else line, end="", flush=True)
                if not sys.stdout.isatty():
                    print()
    for write_future in writing:
        write_future.result()
    for writer in writers:
        writer.shutdown()
    if progress and sys.stdout.isatty():
        print()
    for engine in engines:
        finish(engine)
    return written


def lead_count(engine: Engine) -> int:
    table = SQLModel.metadata.tables["lead"]
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(table)).scalar_one()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.data",
        description="Fill a Baton database with realistic, reproducible leads.",
    )
    parser.add_argument("--leads", type=int, required=True, help="how many leads it should hold")
    parser.add_argument(
        "--database-url", required=True, help="sqlite:///… or postgresql+psycopg://…"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--now", type=datetime.fromisoformat, default=None, help="the moment the data ends at"
    )
    parser.add_argument(
        "--from", dest="start", type=int, default=0,
        help="leads the database already holds from an earlier run with the same seed and --now",
    )  # fmt: skip
    parser.add_argument("--open-share", type=float, default=0.1, help="open clocks per lead")
    parser.add_argument(
        "--qualified-share", type=float, default=None,
        help="force this share of leads to be qualified (default: what the generator draws)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    from storage.db import make_engine, migrate

    now = args.now or datetime.now(UTC).replace(microsecond=0)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    migrate(make_engine(args.database_url))
    engine = loader(args.database_url)
    present = lead_count(engine)
    if present != args.start:
        print(
            f"the database holds {present:,} leads; pass --from {present} if they came from an "
            f"earlier run with the same --seed and --now, or use an empty database",
            file=sys.stderr,
        )
        return 2
    began = time.monotonic()
    rows = grow(
        [engine],
        start=args.start,
        stop=args.leads,
        seed=args.seed,
        now=now,
        open_share=args.open_share,
        qualified_share=args.qualified_share,
        progress=True,
    )
    seconds = time.monotonic() - began
    print(
        f"{args.leads - args.start:,} leads ({rows:,} rows) in {seconds:.1f} s; "
        f"seed {args.seed}, now {now.isoformat()}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
