"""The weekly chart's data with hand-computed answers, and the PNG drawn from it."""

import struct
import warnings
import zlib
from datetime import UTC, datetime, timedelta

from bot import intake, ownership, scorecard, scorecard_chart
from bot.agreement_file import parse_agreement
from bot.charts.scorecard import HEIGHT_PX, WIDTH_PX, png
from bot.schemas import LeadIn
from bot.scorecard_chart import CONTACT, HANDOVERS, Chart
from tests.support import AGREEMENT, GOOD_LEAD, show_card

# Monday 23 November 2026, 00:00 in Copenhagen: the week of the 16th has just ended.
WEEK_END = datetime(2026, 11, 22, 23, 0, tzinfo=UTC)
WEEK_START = WEEK_END - timedelta(days=7)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def hand_over(ctx, at: datetime, number: int, **changes) -> str:
    ctx.clock.now = at
    body = {**GOOD_LEAD, "email": f"chart{number}@nordlys.dk", **changes}
    handed = intake.hand_over(ctx, LeadIn.model_validate(body), by="api").lead
    if handed.qualified:
        show_card(ctx, handed.id)
    return handed.id


def contacted_after(ctx, lead_id: str, at: datetime, hours: float) -> None:
    """The lead's card is in the channel at `at` (its hand-over); contact `hours` later."""
    ctx.clock.now = at + timedelta(minutes=1)
    ownership.claim(ctx, lead_id=lead_id, user="U0SELLER1")
    ctx.clock.now = at + timedelta(hours=hours)
    ownership.mark_contacted(ctx, lead_id=lead_id, user="U0SELLER1")


def test_the_month_counts_qualified_hand_overs_by_local_day_against_the_commitment(ctx):
    ctx.clock = Clock(WEEK_START)
    # 00:30 on 1 November in Copenhagen, still October in UTC: day 1.
    hand_over(ctx, datetime(2026, 10, 31, 23, 30, tzinfo=UTC), 1)
    hand_over(ctx, datetime(2026, 10, 31, 22, 30, tzinfo=UTC), 2)  # 31 October: not this month
    hand_over(ctx, datetime(2026, 11, 2, 9, 0, tzinfo=UTC), 3)
    hand_over(ctx, datetime(2026, 11, 2, 15, 0, tzinfo=UTC), 4)
    hand_over(ctx, datetime(2026, 11, 5, 9, 0, tzinfo=UTC), 5)
    hand_over(ctx, datetime(2026, 11, 5, 10, 0, tzinfo=UTC), 6, country="US")  # not qualified
    hand_over(ctx, datetime(2026, 11, 22, 22, 59, tzinfo=UTC), 7)  # Sunday 23:59: the last day
    hand_over(ctx, WEEK_END, 8)  # Monday 00:00: after the period
    now = WEEK_END + timedelta(hours=8)

    with ctx.sessions() as session:
        chart = scorecard_chart.compute(
            session=session, agreement=ctx.agreement, since=WEEK_START, until=WEEK_END, now=now
        )
        card = scorecard.compute(
            session=session, agreement=ctx.agreement, since=WEEK_START, until=WEEK_END, now=now
        )

    assert (chart.month, chart.days, chart.committed) == ("2026-11", 30, 8)
    #                  day 1  2  3  4  5 ... 21 22
    assert chart.cumulative == [1, 3, 3, 3, 4] + [4] * 16 + [5]
    assert chart.cumulative[-1] == card.commitment.qualified
    assert len(chart.pro_rata) == 31
    assert chart.pro_rata[0] == 0
    assert chart.pro_rata[15] == 4.0  # 8 a month, half of November gone
    assert chart.pro_rata[30] == 8
    assert round(chart.pro_rata[22], 2) == card.commitment.pro_rata  # 8 * 22 / 30


def test_the_waits_to_first_contact_are_binned_against_the_sla(ctx):
    ctx.clock = Clock(WEEK_START)
    monday = WEEK_START + timedelta(hours=8)
    waits = (1.0, 4.0, 5.0, 9.0, 0.5)  # hours on the test agreement's 24/7 clock
    for number, hours in enumerate(waits):
        at = monday + timedelta(hours=number * 10)
        contacted_after(ctx, hand_over(ctx, at, number), at, hours)
    hand_over(ctx, monday + timedelta(days=1), 10)  # not contacted: no wait to plot
    now = WEEK_END + timedelta(hours=8)

    with ctx.sessions() as session:
        chart = scorecard_chart.compute(
            session=session, agreement=ctx.agreement, since=WEEK_START, until=WEEK_END, now=now
        )
        card = scorecard.compute(
            session=session, agreement=ctx.agreement, since=WEEK_START, until=WEEK_END, now=now
        )

    assert (chart.sla_hours, chart.bin_hours) == (4.0, 1.0)  # contact_within 4h, 8 bins to 8h
    # (0,1]: 1h and 0.5h; (3,4]: 4h, at the SLA, is in time; (4,5]: 5h; over 8h: 9h.
    assert chart.contacts == [2, 0, 0, 1, 1, 0, 0, 0, 1]
    assert chart.within_sla == 3
    assert chart.contacted == card.time_to_contact["all"].count == 5


def test_the_binning_by_hand():
    assert scorecard_chart.binned([], 1.0) == [0] * 9
    found = scorecard_chart.binned([0.0, 0.25, 2.0, 2.01, 8.0, 8.01], 1.0)
    assert found == [2, 1, 1, 0, 0, 0, 0, 1, 1]


def test_an_empty_month_is_zeros_not_nan(ctx):
    ctx.clock = Clock(WEEK_END)
    with ctx.sessions() as session:
        chart = scorecard_chart.compute(
            session=session, agreement=ctx.agreement, since=WEEK_START, until=WEEK_END, now=WEEK_END
        )
    assert chart.cumulative == [0] * 22
    assert chart.contacts == [0] * 9


def test_the_chart_travels_as_json_and_back():
    chart = _chart()
    assert Chart.from_facts(chart.as_facts()) == chart


def _chart(**changes) -> Chart:
    facts = {
        "month": "2026-11",
        "days": 30,
        "cumulative": [1, 3, 3, 3, 4] + [4] * 16 + [5],
        "committed": 8,
        "business_time": True,
        "sla_hours": 4.0,
        "bin_hours": 1.0,
        "contacts": [2, 0, 0, 1, 1, 0, 0, 0, 1],
    }
    return Chart(**{**facts, **changes})


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """A PNG's chunks (type, data), each checked against its CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    found, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length : at + 12 + length])
        assert zlib.crc32(kind + body) == crc
        found.append((kind, body))
        at += 12 + length
    return found


def test_the_png_is_a_valid_png_of_the_fixed_size_and_the_same_every_time():
    for panels in ((HANDOVERS, CONTACT), (HANDOVERS,), (CONTACT,)):
        drawn = png(_chart(), panels)
        chunks = _chunks(drawn)
        assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND"
        width, height = struct.unpack(">II", chunks[0][1][:8])
        assert (width, height) == (WIDTH_PX, HEIGHT_PX)
        texts = b"".join(body for kind, body in chunks if kind in (b"tEXt", b"iTXt", b"zTXt"))
        assert b"Software" not in texts and b"Date" not in texts and b"tIME" not in dict(chunks)
        assert png(_chart(), panels) == drawn


def test_an_empty_month_draws_without_warnings():
    empty = _chart(cumulative=[0] * 22, contacts=[0] * 9)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert png(empty, (HANDOVERS, CONTACT))[:4] == b"\x89PNG"
        assert png(_chart(cumulative=[], committed=None, contacts=[0] * 9), (HANDOVERS, CONTACT))


def test_the_waits_count_business_hours_as_the_scorecard_does(ctx):
    ctx.agreement = parse_agreement(
        AGREEMENT.replace(
            "timezone: Europe/Copenhagen",
            "timezone: Europe/Copenhagen\nbusiness_hours: {days: [mon, tue, wed, thu, fri], "
            'start: "08:00", end: "16:00"}',
        )
    )
    ctx.clock = Clock(WEEK_START)
    friday = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)  # 15:00 in Copenhagen, an hour to close
    lead_id = hand_over(ctx, friday, 1)
    ctx.clock.now = friday + timedelta(minutes=5)
    ownership.claim(ctx, lead_id=lead_id, user="U0SELLER1")
    ctx.clock.now = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # Monday 09:00: an hour after opening
    ownership.mark_contacted(ctx, lead_id=lead_id, user="U0SELLER1")
    now = ctx.clock.now

    with ctx.sessions() as session:
        chart = scorecard_chart.compute(
            session=session, agreement=ctx.agreement, since=WEEK_START, until=WEEK_END, now=now
        )
        card = scorecard.compute(
            session=session, agreement=ctx.agreement, since=WEEK_START, until=WEEK_END, now=now
        )
    assert chart.business_time and (chart.sla_hours, chart.bin_hours) == (4.0, 1.0)
    assert chart.contacts == [0, 1, 0, 0, 0, 0, 0, 0, 0]  # 1 h on Friday + 1 h on Monday
    assert card.time_to_contact["all"].median_seconds == 7200
