"""reasons as codes: qualification reasons, feedback reasons and missed rules; people by email

Qualification reasons were stored as sentences ("country US is not one of DK, SE") and are
now a rule's code and its facts; feedback reasons were the agreement's words and are now
their code; missed rules were words and are now the codes of `bot.rules`. The sentences are
read here, once, in the wording they were written in; one that cannot be read is kept whole
under the code `legacy`. Also the cache of email addresses resolved on the chat platform.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 06:00:00.000000
"""

import re
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The rule names the feedback form offered, and the scorecard's, to the codes of bot.rules.
RULE_CODES = {
    "country": "geography",
    "industry": "industry",
    "company size": "company_size",
    "contact role": "contact_role",
    "title": "contact_role",
    "budget": "budget",
    "challenges": "challenges",
    "buying stage": "buying_stage",
}
RULE_NAMES = {
    "geography": "country",
    "industry": "industry",
    "company_size": "company size",
    "contact_role": "contact role",
    "budget": "budget",
    "challenges": "challenges",
    "buying_stage": "buying stage",
}
REMOVED = "(removed on request)"
_MISSING = re.compile(r"^(country|industry|company size|title|buying stage|budget) is missing")
_ASKED = re.compile(r"\(the definition asks for (.*)\)$")
_OUTSIDE = re.compile(r"^(country|industry|buying stage) (.+) is not one of (.*)$")
_SIZE = re.compile(r"^company size (-?\d+) is (below the minimum|above the maximum) of (\d+) ")
_RANGE = re.compile(r"^(\d+)–(\d+|∞) employees$")
_TITLE = re.compile(r"^title (.+) matches none of the contact roles ?(.*)$")
_FACT = {"country": "country", "industry": "industry", "buying stage": "buying_stage"}


def _listed(text: str) -> list[str]:
    return [item for item in text.split(", ") if item]


def _missing(rule: str, asked: str) -> dict[str, Any]:
    code = RULE_CODES[rule]
    if code == "budget":
        return {"code": code, "facts": {}}
    if code == "company_size":
        found = _RANGE.match(asked)
        low, high = (found[1], found[2]) if found else ("0", "∞")
        return {
            "code": code,
            "facts": {
                "employees": None,
                "min": int(low) or None,
                "max": None if high == "∞" else int(high),
            },
        }
    fact = "title" if code == "contact_role" else _FACT[rule]
    return {"code": code, "facts": {fact: None, "allowed": _listed(asked)}}


def to_code(sentence: Any) -> dict[str, Any]:
    """One stored sentence as a code and its facts; a reason already a code stays as it is."""
    if isinstance(sentence, dict):
        return sentence
    text = str(sentence)
    if found := _MISSING.match(text):
        asked = _ASKED.search(text)
        return _missing(found[1], asked[1] if asked else "")
    if found := _OUTSIDE.match(text):
        rule, value, allowed = found[1], found[2], _listed(found[3])
        return {"code": RULE_CODES[rule], "facts": {_FACT[rule]: value, "allowed": allowed}}
    if found := _SIZE.match(text):
        size, bound = int(found[1]), int(found[3])
        low, high = (bound, None) if found[2].startswith("below") else (None, bound)
        return {"code": "company_size", "facts": {"employees": size, "min": low, "max": high}}
    if found := _TITLE.match(text):
        return {
            "code": "contact_role",
            "facts": {"title": found[1], "allowed": _listed(found[2])},
        }
    return {"code": "legacy", "facts": {"text": text}}


def to_sentence(reason: Any) -> str:
    """A code and its facts back in the words 0008 and before stored."""
    if not isinstance(reason, dict):
        return str(reason)
    code, facts = reason.get("code"), reason.get("facts") or {}
    allowed = ", ".join(facts.get("allowed") or [])
    if code == "legacy":
        return str(facts.get("text", ""))
    if code == "budget":
        return "budget is missing (the definition asks for a confirmed budget)"
    if code == "challenges":
        return "challenges are missing"
    if code == "company_size":
        size, low, high = facts.get("employees"), facts.get("min"), facts.get("max")
        if size is None:
            upper = "∞" if high is None else high
            return f"company size is missing (the definition asks for {low or 0}–{upper} employees)"
        if low is not None and size < low:
            return f"company size {size} is below the minimum of {low} employees"
        return f"company size {size} is above the maximum of {high} employees"
    if code == "contact_role":
        if facts.get("title") is None:
            return f"title is missing (the definition asks for {allowed})"
        return f"title {facts['title']} matches none of the contact roles {allowed}".strip()
    name = RULE_NAMES.get(str(code), str(code))
    value = facts.get({"geography": "country"}.get(str(code), str(code)))
    if value is None:
        return f"{name} is missing (the definition asks for {allowed})"
    return f"{name} {value} is not one of {allowed}"


def reason_code(label: str) -> str:
    """As `bot.agreement.reason_code`, frozen: the code of an agreed reason's words."""
    return re.sub(r"[^a-z0-9]+", "_", label.casefold()).strip("_")


def _rules(names: Any, mapping: dict[str, str]) -> Any:
    return [mapping.get(name, name) for name in names] if isinstance(names, list) else names


def _each(
    table: sa.Table, key: str, column: str, change: Callable[[Any], Any], where: Any = None
) -> None:
    """Rewrite one JSON (or text) column row by row, where the value changes."""
    bind = op.get_bind()
    query = sa.select(table.c[key], table.c[column])
    if where is not None:
        query = query.where(where)
    for row_key, value in bind.execute(query).all():
        changed = change(value)
        if changed != value:
            bind.execute(table.update().where(table.c[key] == row_key).values({column: changed}))


def _convert(
    reasons: Callable[[Any], Any], feedback_reason: Callable[[Any], Any], rules: dict[str, str]
) -> None:
    lead = sa.table("lead", sa.column("id"), sa.column("reasons", sa.JSON))
    event = sa.table("event", sa.column("id"), sa.column("kind"), sa.column("data", sa.JSON))
    feedback = sa.table(
        "feedback",
        sa.column("id"),
        sa.column("reason"),
        sa.column("missed_rules", sa.JSON),
    )
    outbox = sa.table(
        "outbox", sa.column("id"), sa.column("sent_at"), sa.column("payload", sa.JSON)
    )

    def facts(data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if isinstance(data.get("reasons"), list):
            data["reasons"] = [reasons(item) for item in data["reasons"]]
        if isinstance(data.get("reason"), str):
            data["reason"] = feedback_reason(data["reason"])
        if "missed_rules" in data:
            data["missed_rules"] = _rules(data["missed_rules"], rules)
        return data

    def payload(value: Any) -> Any:
        if not isinstance(value, dict) or not isinstance(value.get("facts"), dict):
            return value
        if value.get("template") not in (
            "returned_to_nurture",
            "feedback_thread",
            "feedback_marketing",
        ):
            return value
        return {**value, "facts": facts(value["facts"])}

    _each(lead, "id", "reasons", lambda value: [reasons(item) for item in value or []])
    _each(event, "id", "data", facts, event.c.kind.in_(("handed_over", "feedback")))
    _each(feedback, "id", "reason", lambda value: feedback_reason(value) if value else value)
    _each(feedback, "id", "missed_rules", lambda value: _rules(value, rules))
    # What has gone out keeps only its template after an erasure, and is never rendered
    # again; what waits is rendered from these facts.
    _each(outbox, "id", "payload", payload, outbox.c.sent_at.is_(None))


def upgrade() -> None:
    op.create_table(
        "directoryentry",
        sa.Column("platform", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("resolved_at", storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("platform", "email"),
    )
    _convert(to_code, reason_code, RULE_CODES)


def downgrade() -> None:
    # The agreed reasons' own words are in agreement.yml; their codes read as words.
    _convert(to_sentence, lambda code: code.replace("_", " "), RULE_NAMES)
    op.drop_table("directoryentry")
