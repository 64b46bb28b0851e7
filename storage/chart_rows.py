"""The weekly chart's queries: the moments it plots, read for one month's or one week's leads.

The scorecard counts and ranks in SQL (`storage.scorecard_rows`); the chart needs the points
themselves (a day's hand-overs, each lead's wait), which are few for a month and are bucketed
by the domain in the agreement's timezone and calendar.
"""

from datetime import datetime

from sqlmodel import Session, col, select

from storage.models import Lead


def qualified_received(*, session: Session, since: datetime, until: datetime) -> list[datetime]:
    """When each lead that met the definition was handed over in `[since, until)`, in order."""
    return list(
        session.exec(
            select(Lead.received_at)
            .where(
                col(Lead.received_at) >= since,
                col(Lead.received_at) < until,
                col(Lead.qualified),
            )
            .order_by(col(Lead.received_at))
        ).all()
    )


def card_to_contact(
    *, session: Session, since: datetime, until: datetime
) -> list[tuple[datetime, datetime]]:
    """(card in the sales channel, first contact) of each lead handed over in `[since, until)`
    that was contacted: the wait the contact clock measures."""
    return [
        (card_at, contacted_at)
        for card_at, contacted_at in session.exec(
            select(Lead.card_at, Lead.contacted_at).where(
                col(Lead.received_at) >= since,
                col(Lead.received_at) < until,
                col(Lead.card_at).is_not(None),
                col(Lead.contacted_at).is_not(None),
            )
        ).all()
        if card_at is not None and contacted_at is not None
    ]
