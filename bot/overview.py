"""The shared pipeline as each person sees it: my leads, the open ones, this week's figures."""

from dataclasses import dataclass
from datetime import datetime

from bot import availability, consequences, reports
from bot.agreement import Agreement
from bot.context import Context
from bot.pipeline import OPEN, Stage
from storage import leads
from storage.models import Deadline, Lead


@dataclass(frozen=True)
class Item:
    """A lead with the clock that matters next."""

    lead: Lead
    clock: Deadline | None

    @property
    def overdue(self) -> bool:
        return self.clock is not None and self.clock.breached_at is not None

    @property
    def due_at(self) -> datetime | None:
        return self.clock.due_at if self.clock else None


def _with_clocks(session, found: list[Lead]) -> list[Item]:
    clocks: dict[str, list[Deadline]] = {}
    for clock in leads.open_clocks(session=session, lead_ids=[lead.id for lead in found]):
        clocks.setdefault(clock.lead_id, []).append(clock)
    items = []
    for lead in found:
        pending = sorted(clocks.get(lead.id, []), key=lambda c: (c.breached_at is None, c.due_at))
        items.append(Item(lead, pending[0] if pending else None))
    return items


def mine(ctx: Context, user: str) -> list[Item]:
    with ctx.sessions() as session:
        owned = leads.open_leads(session=session, stages=OPEN, owner=user)
        return sorted(_with_clocks(session, owned), key=_urgency)


def open_leads(ctx: Context) -> list[Item]:
    """Unclaimed leads and every overdue one, most urgent first."""
    with ctx.sessions() as session:
        unclaimed = leads.open_leads(session=session, stages=(Stage.HANDED_OVER,))
        overdue = leads.overdue_leads(session=session)
        seen = {lead.id for lead in unclaimed}
        found = unclaimed + [lead for lead in overdue if lead.id not in seen]
        return sorted(_with_clocks(session, found), key=_urgency)


def team(ctx: Context) -> list[Item]:
    with ctx.sessions() as session:
        return sorted(
            _with_clocks(session, leads.open_leads(session=session, stages=OPEN)), key=_urgency
        )


def handed_over_since(ctx: Context, since: datetime) -> list[Lead]:
    with ctx.sessions() as session:
        return leads.received_since(session=session, since=since)


def _urgency(item: Item) -> tuple[bool, datetime]:
    return (
        not item.overdue,
        item.due_at or datetime.max.replace(tzinfo=item.lead.received_at.tzinfo),
    )


def grouped(agreement: Agreement, items: list[Item], now: datetime) -> dict[str, list[Item]]:
    """Overdue, due today (in the agreement's timezone), later."""
    today = now.astimezone(agreement.tz).date()
    groups: dict[str, list[Item]] = {"overdue": [], "today": [], "later": []}
    for item in items:
        if item.overdue:
            groups["overdue"].append(item)
        elif item.due_at and item.due_at.astimezone(agreement.tz).date() <= today:
            groups["today"].append(item)
        else:
            groups["later"].append(item)
    return groups


def home(ctx: Context, user: str) -> dict:
    """What App Home shows this person, by the roles the agreement gives them."""
    now = ctx.clock()
    roles = ctx.agreement.roles_of(user)
    facts: dict = {"user": user, "roles": sorted(roles), "now": now, "groups": {}, "team": []}
    facts["handed_over"] = []
    facts["week"] = None
    facts["out_of_rotation"] = []
    if "sales" in roles or "sales_manager" in roles:
        facts["groups"] = grouped(ctx.agreement, mine(ctx, user), now)
        roles.add("sales")
        facts["roles"] = sorted(roles)
    facts["availability"] = (
        availability.of(ctx, user) if user in ctx.agreement.people.sales else None
    )
    if roles & {"sales_manager", "ceo"}:
        facts["team"] = team(ctx)
        # The figures of `/baton stats` and the weekly message: one computation, this week.
        facts["week"] = reports.this_week(ctx).as_json()
    if "sales_manager" in roles:
        facts["out_of_rotation"] = consequences.out_of_rotation(ctx)
    if "marketing" in roles:
        facts["handed_over"] = handed_over_since(ctx, reports.month_start(ctx.agreement, now))
    return facts
