"""Where Baton reaches Microsoft, and as whom: every address can point at a local stand-in.

Read like `bot.service.settings.Settings` (which extends it: the environment, then `.env`).
The defaults are Microsoft's public cloud; tests, and a sovereign cloud, set the addresses
instead, as `SLACK_API_URL` does for Slack:

- `TEAMS_TOKEN_URL`: the whole token endpoint, used for every token Baton asks for. Without
  it, Entra's endpoint of the tenant in question (`TEAMS_LOGIN_URL`/{tenant}/oauth2/v2.0/token),
  which a multi-tenant app needs: its connector token comes from `botframework.com` and its
  Graph token from the customer's tenant.
- `TEAMS_OPENID_URL`: the Bot Framework's OpenID metadata (its `jwks_uri` names the keys
  that sign every incoming activity).
- `TEAMS_SERVICE_URL`: where a 1:1 is opened when no `serviceUrl` is known yet; every other
  call goes to the `serviceUrl` Teams gave with the conversation.
- `TEAMS_GRAPH_URL`: Microsoft Graph, for the lookup before a retry.
"""

import re

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PUBLIC_LOGIN = "https://login.microsoftonline.com"
PUBLIC_OPENID = "https://login.botframework.com/v1/.well-known/openidconfiguration"
PUBLIC_SERVICE = "https://smba.trafficmanager.net/teams/"
PUBLIC_GRAPH = "https://graph.microsoft.com/v1.0"
ISSUER = "https://api.botframework.com"
"""The issuer of every token the Bot Framework sends to a bot."""
BOT_SCOPE = "https://api.botframework.com/.default"
"""What Baton's own token is for: calling the Bot Connector."""
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
MULTI_TENANT = "botframework.com"
"""The tenant a multi-tenant bot asks its token of."""
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)


class TeamsEndpoints(BaseSettings):
    """The app's identity (`TEAMS_APP_ID`, `TEAMS_APP_PASSWORD`, `TEAMS_TENANT_ID`) and every
    Microsoft address Baton calls."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    teams_app_id: str | None = None
    teams_app_password: str | None = None
    teams_tenant_id: str | None = None
    teams_token_url: str | None = None
    teams_login_url: str = PUBLIC_LOGIN
    teams_openid_url: str = PUBLIC_OPENID
    teams_service_url: str = PUBLIC_SERVICE
    teams_graph_url: str = PUBLIC_GRAPH

    @field_validator("teams_app_id", "teams_app_password", "teams_tenant_id")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value.strip() or None if value else None

    @field_validator("teams_app_id", "teams_tenant_id")
    @classmethod
    def _guid(cls, value: str | None) -> str | None:
        """Entra's app and tenant ids are GUIDs: anything else was copied from the wrong field
        (a secret's value, a display name), and would only fail at the first token."""
        if value and not GUID.match(value):
            raise ValueError(f'"{value}" is not a GUID (like 8f4f4b6e-2f6a-4f1e-9a57-3b1d7c0e5a21)')
        return value.lower() if value else value

    @field_validator("teams_token_url")
    @classmethod
    def _optional_url(cls, value: str | None) -> str | None:
        return cls._http_url(value) if value and value.strip() else None

    @field_validator(
        "teams_login_url",
        "teams_openid_url",
        "teams_service_url",
        "teams_graph_url",
    )
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip()
        if not value.startswith(("https://", "http://")):
            raise ValueError(f'"{value}" is not an http(s) URL')
        return value

    def token_url(self, tenant: str | None = None) -> str:
        """The OAuth 2.0 token endpoint: `TEAMS_TOKEN_URL` when set; else that of `tenant`, else
        of the app's tenant (a single-tenant app), else Bot Framework's (a multi-tenant app
        calling the connector)."""
        if self.teams_token_url:
            return self.teams_token_url
        tenant = tenant or self.teams_tenant_id or MULTI_TENANT
        return f"{self.teams_login_url.rstrip('/')}/{tenant}/oauth2/v2.0/token"
