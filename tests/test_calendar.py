from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.calendar import BusinessCalendar

CPH = ZoneInfo("Europe/Copenhagen")
MON_FRI = range(5)


def danish(**kwargs) -> BusinessCalendar:
    return BusinessCalendar(
        "Europe/Copenhagen",
        days=MON_FRI,
        start=time(8),
        end=time(16),
        holidays_country="DK",
        **kwargs,
    )


def cph(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=CPH)


def local(at: datetime) -> datetime:
    return at.astimezone(CPH)


def test_friday_afternoon_lead_is_due_monday_morning():
    due = danish().add(cph(2026, 1, 9, 15, 30), timedelta(hours=4))
    assert local(due) == cph(2026, 1, 12, 11, 30)


def test_results_are_utc():
    due = danish().add(cph(2026, 1, 9, 15, 30), timedelta(hours=4))
    assert due.tzinfo is UTC
    assert due == datetime(2026, 1, 12, 10, 30, tzinfo=UTC)


def test_easter_holidays_are_skipped():
    due = danish().add(cph(2026, 4, 1, 15, 30), timedelta(hours=4))
    assert local(due) == cph(2026, 4, 7, 11, 30)


def test_company_closed_days_are_skipped():
    calendar = danish(closed=["12-24", "12-31"])
    assert local(danish().add(cph(2026, 12, 23, 15, 30), timedelta(hours=4))) == cph(
        2026, 12, 24, 11, 30
    )
    assert local(calendar.add(cph(2026, 12, 23, 15, 30), timedelta(hours=4))) == cph(
        2026, 12, 28, 11, 30
    )
    assert local(calendar.add(cph(2026, 12, 30, 15, 30), timedelta(hours=4))) == cph(
        2027, 1, 4, 11, 30
    )
    assert not calendar.is_open(cph(2027, 12, 24, 10))


@pytest.mark.parametrize(
    ("start", "due"),
    [
        (cph(2026, 3, 27, 15), cph(2026, 3, 30, 11)),
        (cph(2026, 10, 23, 15), cph(2026, 10, 26, 11)),
    ],
    ids=["spring-forward", "fall-back"],
)
def test_daylight_saving_weekend(start: datetime, due: datetime):
    calendar = danish()
    assert local(calendar.add(start, timedelta(hours=4))) == due
    assert calendar.elapsed(start, due) == timedelta(hours=4)


@pytest.mark.parametrize("day", [date(2026, 3, 27), date(2026, 3, 30), date(2026, 10, 26)])
def test_a_day_around_daylight_saving_is_eight_hours(day: date):
    calendar = danish()
    start = datetime.combine(day, time(0), tzinfo=CPH)
    assert calendar.elapsed(start, start + timedelta(days=1)) == timedelta(hours=8)
    assert calendar.is_open(cph(day.year, day.month, day.day, 8))
    assert not calendar.is_open(cph(day.year, day.month, day.day, 16))


@pytest.mark.parametrize(
    ("start", "due"),
    [
        (cph(2026, 1, 14, 6), cph(2026, 1, 14, 10)),
        (cph(2026, 1, 14, 18), cph(2026, 1, 15, 10)),
        (cph(2026, 1, 17, 12), cph(2026, 1, 19, 10)),
        (cph(2026, 1, 14, 16), cph(2026, 1, 15, 10)),
    ],
    ids=["before-opening", "after-closing", "saturday", "at-closing"],
)
def test_counting_starts_at_the_next_opening(start: datetime, due: datetime):
    assert local(danish().add(start, timedelta(hours=2))) == due


def test_zero_duration_is_start_when_open_else_next_opening():
    calendar = danish()
    assert local(calendar.add(cph(2026, 1, 14, 9), timedelta(0))) == cph(2026, 1, 14, 9)
    assert local(calendar.add(cph(2026, 1, 14, 16), timedelta(0))) == cph(2026, 1, 15, 8)
    assert local(calendar.add(cph(2026, 1, 17, 9), timedelta(0))) == cph(2026, 1, 19, 8)


def test_work_using_up_the_day_is_due_at_closing():
    due = danish().add(cph(2026, 1, 14, 8), timedelta(hours=8))
    assert local(due) == cph(2026, 1, 14, 16)


def test_elapsed_over_a_weekend():
    assert danish().elapsed(cph(2026, 1, 16, 14), cph(2026, 1, 19, 10)) == timedelta(hours=4)


def test_elapsed_outside_hours_is_zero():
    calendar = danish()
    assert calendar.elapsed(cph(2026, 1, 14, 17), cph(2026, 1, 15, 7)) == timedelta(0)
    assert calendar.elapsed(cph(2026, 1, 15, 10), cph(2026, 1, 14, 10)) == timedelta(0)


def test_elapsed_and_add_accept_any_timezone():
    calendar = danish()
    start = datetime(2026, 1, 16, 9, tzinfo=ZoneInfo("America/New_York"))  # 15:00 in Copenhagen
    assert local(calendar.add(start, timedelta(hours=2))) == cph(2026, 1, 19, 9)


def test_always_is_plain_arithmetic_across_daylight_saving():
    calendar = BusinessCalendar.always("Europe/Copenhagen")
    start = cph(2026, 3, 28, 12)
    due = calendar.add(start, timedelta(hours=24))
    assert calendar.is_24_7
    assert due == datetime(2026, 3, 29, 11, tzinfo=UTC)
    assert local(due) == cph(2026, 3, 29, 13)
    assert calendar.elapsed(start, due) == timedelta(hours=24)
    assert calendar.is_open(cph(2026, 3, 29, 3))
    assert calendar.business_days(2) == timedelta(days=2)


def test_a_business_day_is_worth_its_opening_hours():
    calendar = danish()
    assert not calendar.is_24_7
    assert calendar.business_days(2) == timedelta(hours=16)
    assert calendar.business_days(1.5) == timedelta(hours=12)


def test_two_business_days_from_friday_afternoon():
    calendar = danish()
    due = calendar.add(cph(2026, 1, 16, 15), calendar.business_days(2))
    assert local(due) == cph(2026, 1, 20, 15)


def test_large_durations_round_trip():
    calendar = danish(closed=["12-24", "12-31"])
    start = cph(2026, 1, 14, 9)
    duration = calendar.business_days(1000)
    assert calendar.elapsed(start, calendar.add(start, duration)) == duration


def test_full_days_when_hours_are_omitted():
    calendar = BusinessCalendar("Europe/Copenhagen", days=range(6))
    assert calendar.business_days(1) == timedelta(hours=24)
    assert local(calendar.add(cph(2026, 1, 17, 20), timedelta(hours=5))) == cph(2026, 1, 19, 1)


def test_hours_skipped_by_daylight_saving_are_closed():
    calendar = BusinessCalendar("Europe/Copenhagen", days=range(7), start=time(2), end=time(3))
    assert calendar.elapsed(cph(2026, 3, 28), cph(2026, 3, 31)) == timedelta(hours=2)
    assert calendar.elapsed(cph(2026, 10, 24), cph(2026, 10, 27)) == timedelta(hours=4)


def test_unknown_holiday_country():
    with pytest.raises(ValueError, match="unknown holiday country 'XX'"):
        BusinessCalendar("Europe/Copenhagen", days=MON_FRI, holidays_country="XX")


@pytest.mark.parametrize("value", ["1224", "12-32", "02-30", "13-01", "2-1"])
def test_bad_closed_day(value: str):
    with pytest.raises(ValueError, match=repr(value)):
        danish(closed=[value])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"days": MON_FRI, "start": time(16), "end": time(8)},
        {"days": [7]},
        {"days": []},
        {"start": time(8), "end": time(16)},
        {"closed": ["12-24"]},
    ],
)
def test_inconsistent_calendars_are_rejected(kwargs: dict):
    with pytest.raises(ValueError):
        BusinessCalendar("Europe/Copenhagen", **kwargs)


def test_naive_datetimes_are_rejected():
    calendar = danish()
    with pytest.raises(ValueError, match="timezone-aware"):
        calendar.add(datetime(2026, 1, 14, 9), timedelta(hours=1))
    with pytest.raises(ValueError, match="timezone-aware"):
        calendar.elapsed(cph(2026, 1, 14, 9), datetime(2026, 1, 15, 9))
    with pytest.raises(ValueError, match="timezone-aware"):
        calendar.is_open(datetime(2026, 1, 14, 9))


def test_negative_durations_are_rejected():
    with pytest.raises(ValueError, match="negative"):
        danish().add(cph(2026, 1, 14, 9), timedelta(hours=-1))


def test_calendar_that_never_opens_fails_instead_of_hanging():
    every_day = [f"{day:%m-%d}" for day in (date(2024, 1, 1) + timedelta(n) for n in range(366))]
    calendar = BusinessCalendar("UTC", days=range(7), closed=every_day)
    with pytest.raises(ValueError, match="no business day"):
        calendar.add(datetime(2026, 1, 1, tzinfo=UTC), timedelta(hours=1))


CALENDARS = [
    danish(closed=["12-24", "12-31"]),
    BusinessCalendar(
        "America/New_York",
        days=MON_FRI,
        start=time(9),
        end=time(17, 30),
        holidays_country="US",
        closed=["12-24"],
    ),
    BusinessCalendar("Asia/Kolkata", days=range(6), start=time(9, 30), end=time(18, 15)),
    BusinessCalendar("Europe/Copenhagen", days=range(7), start=time(1, 30), end=time(3, 30)),
    BusinessCalendar("Australia/Sydney", days=[0, 2, 4], holidays_country="AU"),
    BusinessCalendar.always("Europe/Copenhagen"),
]
ZONES = st.sampled_from(
    [ZoneInfo(name) for name in ("UTC", "Europe/Copenhagen", "America/New_York")]
)
INSTANTS = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31), timezones=ZONES
).map(lambda at: at.replace(microsecond=0))


@st.composite
def durations(draw: st.DrawFn, calendar: BusinessCalendar) -> timedelta:
    """Up to 30 business days, at second resolution, so the bound scales with the day length."""
    limit = int(calendar.business_days(30).total_seconds())
    return timedelta(seconds=draw(st.integers(0, limit)))


@st.composite
def calendar_and_duration(draw: st.DrawFn) -> tuple[BusinessCalendar, timedelta]:
    calendar = draw(st.sampled_from(CALENDARS))
    return calendar, draw(durations(calendar))


@settings(max_examples=200, deadline=None)
@given(case=calendar_and_duration(), start=INSTANTS)
def test_elapsed_inverts_add(case: tuple[BusinessCalendar, timedelta], start: datetime):
    calendar, duration = case
    assert calendar.elapsed(start, calendar.add(start, duration)) == duration


@settings(max_examples=200, deadline=None)
@given(case=calendar_and_duration(), start=INSTANTS)
def test_due_time_is_within_business_hours(
    case: tuple[BusinessCalendar, timedelta], start: datetime
):
    calendar, duration = case
    due = calendar.add(start, duration)
    assert due.tzinfo is UTC
    assert due >= start
    if duration:
        assert calendar.is_open(due - timedelta(microseconds=1)), "due time ends open hours"
    else:
        assert calendar.is_open(due), "zero duration waits for an opening"


@settings(max_examples=200, deadline=None)
@given(calendar=st.sampled_from(CALENDARS), start=INSTANTS, data=st.data())
def test_add_is_monotonic(calendar: BusinessCalendar, start: datetime, data: st.DataObject):
    shorter, longer = sorted(data.draw(st.lists(durations(calendar), min_size=2, max_size=2)))
    assert calendar.add(start, shorter) <= calendar.add(start, longer)


@settings(max_examples=200, deadline=None)
@given(
    calendar=st.sampled_from(CALENDARS),
    instants=st.lists(INSTANTS, min_size=3, max_size=3).map(sorted),
)
def test_elapsed_is_additive(calendar: BusinessCalendar, instants: list[datetime]):
    a, b, c = instants
    assert calendar.elapsed(a, b) + calendar.elapsed(b, c) == calendar.elapsed(a, c)
    assert calendar.elapsed(c, a) == timedelta(0)
