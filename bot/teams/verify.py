"""Every activity Teams sends is checked as the Bot Framework requires before Baton reads it.

The `Authorization: Bearer` token of `POST /api/messages` must be a JWT signed (RS256) by one
of the keys the Bot Framework publishes (the `jwks_uri` of its OpenID metadata), issued by
`https://api.botframework.com` for this app (`aud` = `TEAMS_APP_ID`), within its validity
(five minutes of clock skew, as Microsoft allows), with a key endorsed for the activity's
channel and a `serviceurl` claim equal to the activity's `serviceUrl`: an answer Baton sends
goes to that address with Baton's own token, so a token must not send it elsewhere.

The Bot Connector sends the same token with every activity for as long as it is valid, so
a token whose signature checked out is remembered (`SIGNED`, the latest few): the same token
again is not decoded and verified anew while the key that signed it is still the one
published under its id. Its times, endorsement and service URL are checked every time.

Keys are cached for a day and fetched again when a token names a key Baton has not seen (the
Bot Framework rolls its keys), at most once a minute, so forged key ids cannot make Baton
hammer Microsoft. Anything wrong raises `Unauthorized`, which the route answers with 401
before it reads the activity.

Microsoft's SDK has a validator (`microsoft_teams.apps.auth.TokenValidator`); Baton does not
use it because it derives the keys' address from the metadata's URL instead of reading
`jwks_uri`, fixes the clock skew and the clock, fetches keys with a blocking call inside
`async` code, and checks neither endorsements nor, by default, the service URL.
"""

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import jwt

from bot.clock import Clock, utcnow
from bot.teams.endpoints import ISSUER

log = logging.getLogger(__name__)

ALGORITHM = "RS256"
SKEW = timedelta(minutes=5)
KEYS_FOR = timedelta(days=1)
REFRESH_FLOOR = timedelta(minutes=1)
SIGNED = 64
"""Tokens remembered as correctly signed: the Bot Connector's few current ones."""


class Unauthorized(Exception):
    """The request does not carry a valid Bot Framework token: answer 401, read nothing."""


_Entry = tuple[Any, list[str] | None]
"""A published key and the channels it is endorsed for (None: any)."""


@dataclass
class _Keys:
    by_kid: dict[str, _Entry] = field(default_factory=dict)
    fetched_at: datetime | None = None


class ActivityVerifier:
    """Checks the bearer token of an incoming activity; one per process, it caches the keys."""

    def __init__(
        self,
        *,
        app_id: str,
        metadata_url: str,
        clock: Clock = utcnow,
        http: httpx.AsyncClient | None = None,
        skew: timedelta = SKEW,
        keys_for: timedelta = KEYS_FOR,
        refresh_floor: timedelta = REFRESH_FLOOR,
    ) -> None:
        if not app_id:
            raise ValueError("an app id is needed to check tokens (TEAMS_APP_ID)")
        self.app_id = app_id
        self.metadata_url = metadata_url
        self.clock = clock
        self.skew = skew
        self.keys_for = keys_for
        self.refresh_floor = refresh_floor
        self._http = http or httpx.AsyncClient(timeout=10)
        self._keys = _Keys()
        self._lock = asyncio.Lock()
        self._signed: dict[str, tuple[str, _Entry, dict[str, Any]]] = {}
        """token -> the id and entry of the key that verified it, and its claims."""

    async def verify(
        self, authorization: str | None, *, service_url: str | None, channel_id: str | None
    ) -> dict[str, Any]:
        """The token's claims, once every check has passed; `Unauthorized` otherwise.

        `service_url` and `channel_id` are the activity's `serviceUrl` and `channelId`.
        """
        token = _bearer(authorization)
        known = self._signed.get(token)
        if known is not None and await self._key(known[0]) is known[1]:
            _, (_, endorsements), claims = known
        else:
            kid, entry, claims = await self._signature(token)
            _, endorsements = entry
            if len(self._signed) >= SIGNED:
                self._signed.clear()
            self._signed[token] = (kid, entry, claims)
        self._check_times(claims)
        if endorsements is not None and channel_id not in endorsements:
            raise Unauthorized(f"the signing key is not endorsed for channel {channel_id!r}")
        claimed = claims.get("serviceurl")
        if not service_url or not isinstance(claimed, str):
            raise Unauthorized("the token or the activity names no service URL")
        if claimed.rstrip("/").lower() != service_url.rstrip("/").lower():
            raise Unauthorized("the token is for another service URL than the activity's")
        return claims

    async def _signature(self, token: str) -> tuple[str, _Entry, dict[str, Any]]:
        """The id and entry of the published key that signed `token` for this app, and its
        claims."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as error:
            raise Unauthorized(f"not a JWT: {error}") from None
        if header.get("alg") != ALGORITHM:
            raise Unauthorized(f"signed with {header.get('alg')!r}, not {ALGORITHM}")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Unauthorized("the token names no signing key (kid)")
        entry = await self._key(kid)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                entry[0],
                algorithms=[ALGORITHM],
                audience=self.app_id,
                issuer=ISSUER,
                options={
                    "require": ["iss", "aud", "exp"],
                    "verify_exp": False,  # checked by `verify` against Baton's clock
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.InvalidTokenError as error:
            raise Unauthorized(str(error)) from None
        return kid, entry, claims

    def _check_times(self, claims: Mapping[str, Any]) -> None:
        now = self.clock().timestamp()
        skew = self.skew.total_seconds()
        try:
            expires = float(claims["exp"])
            not_before = float(claims.get("nbf", expires - 1))
        except (TypeError, ValueError):
            raise Unauthorized("the token's exp or nbf is not a time") from None
        if now > expires + skew:
            raise Unauthorized("the token has expired")
        if now < not_before - skew:
            raise Unauthorized("the token is not valid yet")

    async def _key(self, kid: str) -> _Entry:
        """The public key named `kid`: cached, or fetched anew when stale or unknown."""
        now = self.clock()
        known = self._keys.by_kid.get(kid)
        fetched = self._keys.fetched_at
        if known is not None and fetched is not None and now - fetched < self.keys_for:
            return known
        async with self._lock:
            fetched = self._keys.fetched_at  # another request may have fetched them meanwhile
            if (
                fetched is None
                or now - fetched >= self.keys_for
                or (kid not in self._keys.by_kid and now - fetched >= self.refresh_floor)
            ):
                await self._fetch(now)
        known = self._keys.by_kid.get(kid)
        if known is None:
            raise Unauthorized(f"signed with a key the Bot Framework does not publish ({kid})")
        return known

    async def _fetch(self, now: datetime) -> None:
        try:
            metadata = await self._get_json(self.metadata_url)
            jwks_uri = metadata.get("jwks_uri")
            if not isinstance(jwks_uri, str):
                raise ValueError("the OpenID metadata has no jwks_uri")
            document = await self._get_json(jwks_uri)
        except (httpx.HTTPError, ValueError) as error:
            if self._keys.fetched_at is None:
                raise Unauthorized(f"cannot fetch the signing keys: {error}") from None
            log.warning("teams: cannot refresh the signing keys (%s); keeping the old ones", error)
            return
        keys: dict[str, _Entry] = {}
        for entry in document.get("keys") or []:
            if not isinstance(entry, dict) or entry.get("kty") != "RSA" or not entry.get("kid"):
                continue
            try:
                key = jwt.PyJWK(entry, algorithm=ALGORITHM).key
            except jwt.PyJWKError:
                log.warning("teams: skipping a signing key that cannot be read (%s)", entry["kid"])
                continue
            endorsements = entry.get("endorsements")
            keys[entry["kid"]] = (key, list(endorsements) if endorsements is not None else None)
        self._keys = _Keys(by_kid=keys, fetched_at=now)

    async def _get_json(self, url: str) -> dict[str, Any]:
        response = await self._http.get(url)
        response.raise_for_status()
        body = response.json()
        if not isinstance(body, dict):
            raise ValueError(f"{url} did not answer with a JSON object")
        return body

    async def aclose(self) -> None:
        await self._http.aclose()


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise Unauthorized("no Authorization header")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("the Authorization header is not a Bearer token")
    return token.strip()
