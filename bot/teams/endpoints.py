"""Where Baton reaches Microsoft, and as whom: every address can point at a local stand-in.

Read like `bot.settings.Settings` (the environment, then `.env`). The defaults are Microsoft's
public cloud; tests, and a sovereign cloud, set the addresses instead, as `SLACK_API_URL` does
for Slack. The connector's address normally comes with each conversation (the activity's
`serviceUrl`, kept with it); `TEAMS_SERVICE_URL` is where Baton goes before it has one.
"""

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


class TeamsEndpoints(BaseSettings):
    """The app's identity (`TEAMS_APP_ID`, `TEAMS_APP_PASSWORD`, `TEAMS_TENANT_ID` for a
    single-tenant app) and every Microsoft address Baton calls."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    teams_app_id: str | None = None
    teams_app_password: str | None = None
    teams_tenant_id: str | None = None
    teams_login_url: str = PUBLIC_LOGIN
    teams_openid_metadata_url: str = PUBLIC_OPENID
    teams_service_url: str = PUBLIC_SERVICE
    teams_graph_url: str = PUBLIC_GRAPH

    @field_validator("teams_app_id", "teams_app_password", "teams_tenant_id")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value.strip() or None if value else None

    @field_validator(
        "teams_login_url", "teams_openid_metadata_url", "teams_service_url", "teams_graph_url"
    )
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip()
        if not value.startswith(("https://", "http://")):
            raise ValueError(f'"{value}" is not an http(s) URL')
        return value

    def token_url(self, tenant: str | None = None) -> str:
        """The OAuth 2.0 token endpoint of `tenant`, else of the app's tenant (a single-tenant
        app), else Bot Framework's (a multi-tenant app calling the connector)."""
        tenant = tenant or self.teams_tenant_id or MULTI_TENANT
        return f"{self.teams_login_url.rstrip('/')}/{tenant}/oauth2/v2.0/token"
