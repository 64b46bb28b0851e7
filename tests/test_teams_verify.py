"""The bearer token of every activity Teams sends is checked as the Bot Framework requires.

Tokens are signed with RSA keys that a local fake publishes through OpenID metadata over
HTTP, as login.botframework.com does; anything but a genuine token for this app, its channel
and its service URL is `Unauthorized` (the route's 401).
"""

import asyncio
import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.teams.verify import ActivityVerifier, Unauthorized
from tests.fake_teams import FakeTeams


class Clock:
    """A clock the test moves; starts at the real time, as the fake signs with it."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def check(
    teams: FakeTeams,
    *tokens: str | Callable[[], str],
    clock: Clock | None = None,
    service_url: str | None = None,
    channel: str = "msteams",
) -> list[dict[str, Any] | Unauthorized]:
    """Each token's claims or its refusal, through one verifier (so its key cache is shared);
    a callable is called for its token when its turn comes, so it can change the world first."""

    async def run() -> list[dict[str, Any] | Unauthorized]:
        verifier = ActivityVerifier(
            app_id=teams.app_id, metadata_url=teams.metadata_url, clock=clock or Clock()
        )
        results: list[dict[str, Any] | Unauthorized] = []
        try:
            for token in tokens:
                try:
                    results.append(
                        await verifier.verify(
                            f"Bearer {token() if callable(token) else token}",
                            service_url=service_url or teams.service_url,
                            channel_id=channel,
                        )
                    )
                except Unauthorized as refused:
                    results.append(refused)
        finally:
            await verifier.aclose()
        return results

    return asyncio.run(run())


def refused(result: dict[str, Any] | Unauthorized, why: str) -> bool:
    return isinstance(result, Unauthorized) and why in str(result)


def test_a_genuine_token_gives_its_claims(teams: FakeTeams) -> None:
    (claims,) = check(teams, teams.sign())
    assert isinstance(claims, dict)
    assert claims["aud"] == teams.app_id
    assert claims["iss"] == "https://api.botframework.com"
    assert [c.op for c in teams.calls] == ["openid", "keys"]


def test_keys_are_fetched_once_for_many_activities(teams: FakeTeams) -> None:
    results = check(teams, *(teams.sign() for _ in range(5)))
    assert all(isinstance(r, dict) for r in results)
    assert len(teams.calls_to("keys")) == 1


def test_a_forged_signature_is_refused(teams: FakeTeams) -> None:
    kid = teams.keys[0][0]
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (result,) = check(teams, teams.sign(key=forger, kid=kid))
    assert refused(result, "Signature verification failed")


def test_a_token_whose_payload_was_changed_is_refused(teams: FakeTeams) -> None:
    header, payload, signature = teams.sign().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["aud"] = "another-app"
    changed = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    (result,) = check(teams, f"{header}.{changed}.{signature}")
    assert refused(result, "Signature verification failed")


def test_the_wrong_issuer_is_refused(teams: FakeTeams) -> None:
    (result,) = check(teams, teams.sign(iss="https://sts.windows.net/evil/"))
    assert refused(result, "Invalid issuer")


def test_a_token_for_another_app_is_refused(teams: FakeTeams) -> None:
    (result,) = check(teams, teams.sign(aud="00000000-0000-0000-0000-000000000000"))
    assert refused(result, "Audience doesn't match")


def test_a_token_without_audience_is_refused(teams: FakeTeams) -> None:
    (result,) = check(teams, teams.sign(aud=None))
    assert refused(result, '"aud"')


def test_an_expired_token_is_refused_past_the_clock_skew(teams: FakeTeams) -> None:
    clock = Clock()
    token = teams.sign(lifetime=60)
    clock.now += timedelta(seconds=60 + 4 * 60)  # four minutes past exp: within the skew
    (accepted,) = check(teams, token, clock=clock)
    assert isinstance(accepted, dict)
    clock.now += timedelta(minutes=2)  # six minutes past
    (result,) = check(teams, token, clock=clock)
    assert refused(result, "expired")


def test_a_token_from_the_future_is_refused(teams: FakeTeams) -> None:
    clock = Clock()
    clock.now -= timedelta(minutes=10)
    (result,) = check(teams, teams.sign(), clock=clock)
    assert refused(result, "not valid yet")


def test_an_unsigned_token_is_refused(teams: FakeTeams) -> None:
    claims = jwt.decode(teams.sign(), options={"verify_signature": False})
    unsigned = jwt.encode(claims, key=None, algorithm="none", headers={"kid": teams.keys[0][0]})
    (result,) = check(teams, unsigned)
    assert refused(result, "not RS256")


def test_a_symmetric_token_made_with_the_public_key_is_refused(teams: FakeTeams) -> None:
    claims = jwt.decode(teams.sign(), options={"verify_signature": False})
    header = {"alg": "HS256", "kid": teams.keys[0][0], "typ": "JWT"}
    segments = [
        base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()
        for part in (header, claims)
    ]
    (result,) = check(teams, ".".join([*segments, "c2lnbmF0dXJl"]))
    assert refused(result, "not RS256")


def test_an_unknown_key_is_refused_after_one_fresh_look(teams: FakeTeams) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    clock = Clock()

    def forged() -> str:
        clock.now += timedelta(minutes=2)  # past the floor between two fetches
        return teams.sign(key=stranger, kid="unknown-kid")

    results = check(teams, teams.sign(), forged, clock=clock)
    assert isinstance(results[0], dict)
    assert refused(results[1], "does not publish")
    assert len(teams.calls_to("keys")) == 2  # looked again once for the unknown kid


def test_a_rolled_key_is_fetched_when_a_token_first_uses_it(teams: FakeTeams) -> None:
    clock = Clock()

    def rolled() -> str:
        teams.roll_keys()
        clock.now += timedelta(minutes=2)
        return teams.sign()

    results = check(teams, teams.sign(), rolled, clock=clock)
    assert all(isinstance(r, dict) for r in results)
    assert len(teams.calls_to("keys")) == 2


def test_unknown_kids_do_not_make_the_verifier_fetch_every_time(teams: FakeTeams) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = [teams.sign(key=stranger, kid=f"kid-{i}") for i in range(10)]
    results = check(teams, *forged)
    assert all(refused(r, "does not publish") for r in results)
    assert len(teams.calls_to("keys")) == 1


def test_a_key_not_endorsed_for_the_channel_is_refused(teams: FakeTeams) -> None:
    (result,) = check(teams, teams.sign(), channel="webchat")
    assert refused(result, "not endorsed")


def test_a_token_for_another_service_url_is_refused(teams: FakeTeams) -> None:
    (result,) = check(teams, teams.sign(serviceurl="https://evil.example/teams/"))
    assert refused(result, "another service URL")
    (result,) = check(teams, teams.sign(serviceurl=None))
    assert refused(result, "no service URL")


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Basic dXNlcjpwYXNz", "Bearer", "Bearer not-a-jwt", "Bearer a.b.c"],
)
def test_a_missing_or_malformed_header_is_refused(
    teams: FakeTeams, authorization: str | None
) -> None:
    async def run() -> None:
        verifier = ActivityVerifier(app_id=teams.app_id, metadata_url=teams.metadata_url)
        try:
            with pytest.raises(Unauthorized):
                await verifier.verify(
                    authorization, service_url=teams.service_url, channel_id="msteams"
                )
        finally:
            await verifier.aclose()

    asyncio.run(run())
    assert teams.calls_to("keys") == []  # refused before any key was fetched


def test_when_the_keys_cannot_be_fetched_every_token_is_refused(teams: FakeTeams) -> None:
    teams.fail("openid", 503, "ServiceUnavailable")
    (result,) = check(teams, teams.sign())
    assert refused(result, "cannot fetch the signing keys")


def test_stale_keys_are_kept_when_a_refresh_fails(teams: FakeTeams) -> None:
    clock = Clock()
    token = teams.sign(lifetime=3 * 86400)

    def a_day_later() -> str:
        clock.now += timedelta(days=1, minutes=1)
        teams.fail("openid", 503, "ServiceUnavailable")
        return token

    results = check(teams, token, a_day_later, clock=clock)
    assert all(isinstance(r, dict) for r in results)
    assert len(teams.calls_to("openid")) == 2


def test_fifty_activities_at_once_fetch_the_keys_once(teams: FakeTeams) -> None:
    tokens = [teams.sign() for _ in range(50)]

    async def run() -> list[dict[str, Any]]:
        verifier = ActivityVerifier(app_id=teams.app_id, metadata_url=teams.metadata_url)
        try:
            return await asyncio.gather(
                *(
                    verifier.verify(
                        f"Bearer {token}", service_url=teams.service_url, channel_id="msteams"
                    )
                    for token in tokens
                )
            )
        finally:
            await verifier.aclose()

    assert len(asyncio.run(run())) == 50
    assert len(teams.calls_to("openid")) == len(teams.calls_to("keys")) == 1


def test_a_token_seen_before_is_still_checked_for_its_times(teams: FakeTeams) -> None:
    clock = Clock()
    token = teams.sign(lifetime=60)

    def later() -> str:
        clock.now += timedelta(minutes=10)  # past its exp and the clock skew
        return token

    results = check(teams, token, later, clock=clock)
    assert isinstance(results[0], dict)
    assert refused(results[1], "expired")


def test_a_token_seen_before_is_refused_once_its_key_is_no_longer_published(
    teams: FakeTeams,
) -> None:
    clock = Clock()
    token = teams.sign(lifetime=3 * 86400)

    def unpublished() -> str:
        teams.roll_keys()
        teams.roll_keys()  # the key that signed `token` is gone
        clock.now += timedelta(days=1, minutes=1)  # the cached keys are fetched again
        return token

    results = check(teams, token, token, unpublished, clock=clock)
    assert isinstance(results[0], dict) and isinstance(results[1], dict)
    assert refused(results[2], "does not publish")
    assert len(teams.calls_to("keys")) == 2
