"""Reading a CRM's `Retry-After`, and how long a 429 may hold a CRM at most."""

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from bot.crm.errors import RateLimited
from bot.crm.http import MAX_WAIT, retry_after
from bot.crm.hubspot import HubSpot
from bot.crm.mapping import ObjectRef
from tests.fake_hubspot import TOKEN, FakeHubSpot

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def answer(value: str | None) -> httpx.Response:
    return httpx.Response(429, headers={} if value is None else {"Retry-After": value})


@pytest.mark.parametrize(
    ("value", "wait"),
    [
        ("7", timedelta(seconds=7)),
        ("0.5", timedelta(seconds=0.5)),
        ("Tue, 24 Nov 2026 09:00:30 GMT", timedelta(seconds=30)),
        ("Tue, 24 Nov 2026 08:59:00 GMT", timedelta(0)),
        ("-3", timedelta(0)),
        ("soon", None),
        ("nan", None),
        (None, None),
    ],
)
def test_retry_after_in_seconds_or_as_a_date(value, wait):
    assert retry_after(answer(value), NOW) == wait


def test_a_429_never_holds_a_crm_longer_than_an_hour():
    with FakeHubSpot() as fake, HubSpot(TOKEN, fake.url) as client:
        fake.add_contact("1", email="a@b.dk")
        fake.fail("429", retry_after="86400")
        with pytest.raises(RateLimited) as raised:
            client.set_status(ObjectRef("hubspot", "contact", "1"), "OPEN")
    assert raised.value.retry_after == MAX_WAIT
