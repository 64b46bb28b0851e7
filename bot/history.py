"""A lead's history: every event of the log, who did what and when, found by the lead's id
or its email address (one person handed over twice has two histories)."""

from dataclasses import dataclass
from typing import Any

from bot.context import Context
from storage import leads, personal_data
from storage.models import Event, Lead


@dataclass(frozen=True)
class History:
    lead: Lead
    events: list[Event]


def details(event: Event) -> str:
    """What an event recorded besides who and when, as `key: value` pairs; empty values out."""
    data: dict[str, Any] = event.data or {}
    shown = []
    for key, value in data.items():
        if value in (None, "", [], {}):
            continue
        if isinstance(value, list):
            value = ", ".join(
                str(item.get("code", item)) if isinstance(item, dict) else str(item)
                for item in value
            )
        shown.append(f"{key.replace('_', ' ')}: {value}")
    return "; ".join(shown)


def _storable(key: str) -> bool:
    """Text no lead can have (a NUL, a lone surrogate, longer than a column) names none, and
    PostgreSQL would refuse to compare it."""
    if not key or "\x00" in key or len(key) > 1000:
        return False
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def find(ctx: Context, key: str) -> list[History]:
    """The histories of the leads `key` names: an email address in any letter case, or an id."""
    key = key.strip()
    if not _storable(key):
        return []
    with ctx.sessions() as session:
        if "@" in key:
            found = personal_data.leads_with_email(session=session, address=key, lock=False)
        else:
            lead = leads.get(session=session, lead_id=key)
            found = [lead] if lead is not None else []
        found.sort(key=lambda lead: lead.received_at)
        return [History(lead, leads.history(session=session, lead_id=lead.id)) for lead in found]
