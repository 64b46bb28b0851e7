"""Who gets a qualified lead when Baton chooses (`routing:` in the agreement).

`round_robin` gives turns in proportion to the sellers' weights: each lead Baton gives a
seller counts 1/weight of a turn, and the seller with the fewest turns is next (stride
scheduling, so a weight-2 seller gets two leads for every one of a weight-1 colleague, evenly
spread, not in bursts). `least_loaded` gives the lead to whoever holds the fewest open leads
per unit of weight. Both skip sellers who are away, out of the rotation or at `max_open`.

No catch-up flood after an absence: a seller back in the rotation (from an absence, from out
of rotation, or new to `people.sales`) starts level with the colleagues in it, with as many
turns as the fewest of theirs. Under `least_loaded`, the open leads they are behind the least
loaded colleague at the return count as held (`load_offset`) until the others' backlog has
come down to them, so they get their share of new leads, not all of them. Fairness counts
from the return.

The business calendar does not stop the choice: a lead that arrives at night is assigned at
once, and its clocks count business time anyway, so its owner finds it first thing with the
whole window ahead.
"""

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import Row
from sqlmodel import Session

from bot import messages, sla, writeback
from bot.agreement import Agreement
from bot.context import Context
from bot.pipeline import Move, next_stage
from storage import deadlines, leads, sellers
from storage.models import Lead, SellerStatus

ASSIGNED, UNASSIGNED = "assigned", "not_assigned"
"""The events of a choice: a lead Baton gave to a seller (with the reason), and a lead Baton
could give nobody (with why), which stays open for Claim."""


@dataclass(frozen=True)
class Choice:
    seller: str
    reason: str
    """Why this seller, in words for the card and the history: "round robin, weight 2"."""


Status = SellerStatus | Row[Any]
"""A seller's status as stored: the table's object, or its plain row (`storage.sellers`)."""


def is_away(row: Status | None, now: datetime) -> bool:
    if row is None or row.away_since is None or row.away_since > now:
        return False
    return row.away_until is None or now < row.away_until


class Rotation:
    """The sellers as a choice sees them at `now`, read once for any number of choices (a
    bulk import routes thousands of leads in one transaction).

    Reading settles what time has changed, in the caller's transaction: an absence whose end
    has passed ends, and a seller back in the rotation is levelled with the others.
    """

    def __init__(self, session: Session, agreement: Agreement, now: datetime) -> None:
        self.session = session
        self.routing = agreement.routing
        self.now = now
        self.order = list(dict.fromkeys(agreement.people.sales))
        rows = sellers.statuses(session=session, sellers=self.order)
        ended = [s for s, row in rows.items() if row.away_until and row.away_until <= now]
        for seller in ended:
            sellers.end_absence(session=session, seller=seller, at=now)
        if ended:
            session.flush()
            rows = sellers.statuses(session=session, sellers=self.order)
        self.away = {s for s in self.order if is_away(rows.get(s), now)}
        self.out = {
            s for s, row in rows.items() if row.out_of_rotation_since is not None
        } - self.away
        counts = leads.open_counts(session=session)
        self.open = {seller: counts.get(seller, 0) for seller in self.order}
        self.turns: dict[str, float] = {}
        self.offset: dict[str, float] = {}
        self._level(rows)

    def weight(self, seller: str) -> int:
        return self.routing.weight(seller)

    def held(self, seller: str) -> float:
        """Open leads per unit of weight."""
        return self.open[seller] / self.weight(seller)

    def load(self, seller: str) -> float:
        """Open leads per unit of weight, and the head start of a seller just back."""
        return self.held(seller) + self.offset.get(seller, 0.0)

    def _level(self, rows: dict[str, Status]) -> None:
        """Sellers in the rotation without a place in it take the fewest turns of those with
        one. One back from an absence or from out of rotation also counts the open leads it
        is behind the least loaded of the others as held; so does one new to the team,
        against the colleagues already placed."""
        rotating = [s for s in self.order if s not in self.away and s not in self.out]
        returning, new = [], []
        for seller in rotating:
            row = rows.get(seller)
            if row is None:
                new.append(seller)
            elif row.turns is None:
                returning.append(seller)
            else:
                self.turns[seller] = row.turns
                if row.load_offset:
                    self.offset[seller] = row.load_offset
        if not returning and not new:
            return
        placed = list(self.turns)
        turns = min(self.turns.values(), default=0.0)
        least = {
            "returning": min((self.held(s) for s in [*placed, *new]), default=None),
            "new": min((self.held(s) for s in placed), default=None),
        }
        for kind, group in (("returning", returning), ("new", new)):
            for seller in group:
                self.turns[seller] = turns
                behind = max(0.0, (least[kind] or 0.0) - self.held(seller)) or None
                if behind:
                    self.offset[seller] = behind
                sellers.level(
                    session=self.session,
                    seller=seller,
                    turns=turns,
                    load_offset=behind,
                    at=self.now,
                )

    def _caught_up(self) -> None:
        """A head start ends once the others' open leads have come down to the seller's own."""
        others = [s for s in self.turns if s not in self.offset]
        if not others:
            return
        least = min(self.held(s) for s in others)
        for seller in [s for s in self.offset if self.held(s) >= least]:
            del self.offset[seller]
            sellers.clear_offset(session=self.session, seller=seller)

    def _capped(self, seller: str) -> bool:
        cap = self.routing.max_open
        return cap is not None and self.open[seller] >= cap

    def candidates(self, exclude: Collection[str] = ()) -> list[str]:
        return [s for s in self.turns if s not in exclude and not self._capped(s)]

    def choose(self, exclude: Collection[str] = ()) -> Choice | None:
        """The next seller by the agreement's mode, or None when nobody is available.

        `claim` mode has no turns to keep: when Baton must choose anyway (a lead reassigned,
        a nurtured lead handed back), the least loaded seller takes it."""
        self._caught_up()
        found = self.candidates(exclude)
        if not found:
            return None
        rank = {seller: index for index, seller in enumerate(self.order)}
        if self.routing.mode == "round_robin":
            seller = min(found, key=lambda s: (self.turns[s], self.load(s), rank[s]))
            weight = self.weight(seller)
            reason = f"round robin, weight {weight}" if self.routing.weights else "round robin"
            return Choice(seller, reason)
        seller = min(found, key=lambda s: (self.load(s), self.turns[s], rank[s]))
        held = self.open[seller]
        reason = f"fewest open leads ({held})"
        if self.weight(seller) != 1:
            reason += f", weight {self.weight(seller)}"
        return Choice(seller, reason)

    def took(self, seller: str) -> None:
        """`seller` was given a lead: one more open lead, 1/weight more turns."""
        share = 1 / self.weight(seller)
        self.turns[seller] = self.turns.get(seller, 0.0) + share
        self.open[seller] = self.open.get(seller, 0) + 1
        sellers.took_turn(session=self.session, seller=seller, turns=share, at=self.now)

    def nobody(self, exclude: Collection[str] = ()) -> str:
        """Why no seller is available, in words for the card and the history."""
        parts = []
        if self.away:
            parts.append(f"{len(self.away)} away")
        if self.out:
            parts.append(f"{len(self.out)} out of rotation")
        capped = [s for s in self.turns if s not in exclude and self._capped(s)]
        if capped:
            parts.append(f"{len(capped)} at the cap of {self.routing.max_open} open leads")
        passed = [s for s in self.turns if s in exclude]
        if passed:
            parts.append(f"{len(passed)} passed over")
        return "nobody is available: " + (", ".join(parts) or "no sellers")


def choose_seller(
    session: Session, agreement: Agreement, now: datetime, *, exclude: Collection[str] = ()
) -> Choice | None:
    """The seller Baton would give a lead to now, or None when nobody is available.

    Honours weights, `max_open`, absences and the rotation; `exclude` passes over sellers
    (the owner a lead is taken from). Deciding settles ended absences and levels sellers back
    in the rotation in the caller's transaction; it counts no turn: `assign` does."""
    return Rotation(session, agreement, now).choose(exclude)


def assign(
    session: Session,
    ctx: Context,
    *,
    lead: Lead,
    now: datetime,
    rotation: Rotation | None = None,
    exclude: Collection[str] = (),
) -> Choice | None:
    """Give `lead` to the next seller, as the sales manager's Assign would: owner set, the
    claim clock resolved, the event with its reason, the owner told, the CRM updated; its
    card is brought up to date by the caller. When nobody is available (or the lead changed
    meanwhile), the lead stays as it was, an event says why, and None is returned.

    The current owner, if any, is passed over; the caller starts fresh clocks if it wants
    them (a reassignment)."""
    rotation = rotation or Rotation(session, ctx.agreement, now)
    passed = {*exclude, *([lead.owner] if lead.owner else [])}
    choice = rotation.choose(passed)
    record = partial(leads.record, session=session, lead_id=lead.id, at=now, actor="baton")
    if choice is None:
        record(kind=UNASSIGNED, data={"reason": rotation.nobody(passed)})
        return None
    stage = next_stage(lead.stage, Move.ASSIGN)
    if not leads.set_owner(
        session=session,
        lead_id=lead.id,
        owner=choice.seller,
        stage=stage,
        expected_owner=lead.owner,
        at=now if lead.owner is None else None,
    ):
        return None
    rotation.took(choice.seller)
    deadlines.resolve(session=session, lead_id=lead.id, kinds=(sla.CLAIM,), at=now)
    record(kind=ASSIGNED, data={"from": lead.owner, "to": choice.seller, "reason": choice.reason})
    messages.direct(
        session=session,
        user=choice.seller,
        template="assigned_to_you",
        lead_id=lead.id,
        at=now,
        by="baton",
        reason=choice.reason,
    )
    owned = leads.get(session=session, lead_id=lead.id)
    if owned is not None:
        session.refresh(owned)
        writeback.queue(
            session, ctx, lead=owned, step="assigned", at=now, by="baton", owner=choice.seller
        )
    return choice


def why(session: Session, *, lead_id: str) -> dict[str, str] | None:
    """What the card says of Baton's last choice for the lead: `{"kind", "to", "reason"}`,
    None when Baton never chose (a claim, the manager's Assign)."""
    event = leads.latest_event(session=session, lead_id=lead_id, kinds=(ASSIGNED, UNASSIGNED))
    if event is None or event.actor != "baton" or "reason" not in (event.data or {}):
        return None
    return {
        "kind": event.kind,
        "to": str(event.data.get("to") or ""),
        "reason": str(event.data["reason"]),
    }
