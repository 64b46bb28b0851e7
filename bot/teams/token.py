"""Baton's own token for the Bot Connector: OAuth 2.0 client credentials, kept until near
its end.

Microsoft Entra issues it (`TEAMS_TOKEN_URL`, or `TEAMS_LOGIN_URL`/{tenant}/oauth2/v2.0/token; scope
`https://api.botframework.com/.default`) for about an hour. One is asked for when the first
call needs it and again five minutes before it runs out (or halfway, for a short one), by
one caller at a time: fifty messages at once cost one token request.

The Teams SDK mints tokens with MSAL, which insists on an https authority it can discover,
so it cannot be pointed at a local stand-in, and which blocks the event loop; the request is
one form POST, done here with httpx.
"""

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx

from bot.clock import Clock, utcnow
from bot.teams.endpoints import BOT_SCOPE, TeamsEndpoints
from bot.teams.errors import Unavailable, from_response, from_transport

MARGIN = timedelta(minutes=5)
OPERATION = "token"


@dataclass(frozen=True)
class _Token:
    value: str
    renew_at: datetime


class AppToken:
    """The app's access token, cached; `await token()` gives a valid one or raises a
    `bot.teams.errors.TeamsError` (a wrong secret is `Refused`, permanent)."""

    def __init__(
        self,
        endpoints: TeamsEndpoints,
        *,
        http: httpx.AsyncClient,
        clock: Clock = utcnow,
        scope: str = BOT_SCOPE,
        tenant: str | None = None,
    ) -> None:
        """`scope` and `tenant`: the connector's token by default; Microsoft Graph's
        (`GRAPH_SCOPE`) must come from the tenant whose messages it reads."""
        if not endpoints.teams_app_id or not endpoints.teams_app_password:
            raise ValueError("TEAMS_APP_ID and TEAMS_APP_PASSWORD are needed to call Teams")
        self.endpoints = endpoints
        self.http = http
        self.clock = clock
        self.scope = scope
        self.tenant = tenant
        self._token: _Token | None = None
        self._lock = asyncio.Lock()

    async def __call__(self) -> str:
        token = self._token
        if token is not None and self.clock() < token.renew_at:
            return token.value
        async with self._lock:
            token = self._token
            if token is None or self.clock() >= token.renew_at:
                token = self._token = await self._fetch()
        return token.value

    def forget(self) -> None:
        """Drop the cached token (the connector said 401): the next call asks for a new one."""
        self._token = None

    async def _fetch(self) -> _Token:
        asked = self.clock()
        try:
            response = await self.http.post(
                self.endpoints.token_url(self.tenant),
                data={
                    "grant_type": "client_credentials",
                    "client_id": self.endpoints.teams_app_id,
                    "client_secret": self.endpoints.teams_app_password,
                    "scope": self.scope,
                },
            )
        except httpx.TransportError as error:
            raise from_transport(OPERATION, error) from error
        if response.status_code != 200:
            raise from_response(OPERATION, response)
        try:
            body = response.json()
            value = str(body["access_token"])
            lifetime = timedelta(seconds=float(body["expires_in"]))
        except (ValueError, KeyError, TypeError):
            raise Unavailable(
                OPERATION, "the token endpoint answered without a token", maybe_done=False
            ) from None
        margin = min(MARGIN, lifetime / 2)
        return _Token(value, asked + lifetime - margin)
