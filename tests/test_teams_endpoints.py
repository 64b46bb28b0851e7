"""Every Microsoft address Baton calls comes from the environment, with the public cloud's as
the default, so tests and sovereign clouds point Baton elsewhere as SLACK_API_URL does."""

import pytest
from pydantic import ValidationError

from bot.teams.endpoints import TeamsEndpoints

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
ADDRESSES = {
    "TEAMS_LOGIN_URL": "http://127.0.0.1:9001",
    "TEAMS_OPENID_URL": "http://127.0.0.1:9001/v1/.well-known/openidconfiguration",
    "TEAMS_SERVICE_URL": "http://127.0.0.1:9001/teams/",
    "TEAMS_GRAPH_URL": "http://127.0.0.1:9001/graph/v1.0",
}


def read(monkeypatch: pytest.MonkeyPatch, **env: str) -> TeamsEndpoints:
    others = ("TEAMS_APP_ID", "TEAMS_APP_PASSWORD", "TEAMS_TENANT_ID", "TEAMS_TOKEN_URL")
    for name in (*ADDRESSES, *others):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return TeamsEndpoints(_env_file=None)  # type: ignore[call-arg]


def test_the_public_cloud_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    endpoints = read(monkeypatch)
    assert endpoints.teams_login_url == "https://login.microsoftonline.com"
    assert endpoints.teams_openid_url == (
        "https://login.botframework.com/v1/.well-known/openidconfiguration"
    )
    assert endpoints.teams_service_url == "https://smba.trafficmanager.net/teams/"
    assert endpoints.teams_graph_url == "https://graph.microsoft.com/v1.0"
    assert endpoints.token_url() == (
        "https://login.microsoftonline.com/botframework.com/oauth2/v2.0/token"
    )


def test_every_address_is_set_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    endpoints = read(monkeypatch, **ADDRESSES, TEAMS_TENANT_ID=TENANT)
    for name, value in ADDRESSES.items():
        assert getattr(endpoints, name.lower()) == value
    assert endpoints.token_url() == f"http://127.0.0.1:9001/{TENANT}/oauth2/v2.0/token"
    assert endpoints.token_url("other") == "http://127.0.0.1:9001/other/oauth2/v2.0/token"


def test_the_whole_token_endpoint_serves_every_token(monkeypatch: pytest.MonkeyPatch) -> None:
    endpoints = read(monkeypatch, TEAMS_TOKEN_URL="http://127.0.0.1:9001/token")
    assert endpoints.token_url() == endpoints.token_url(TENANT) == "http://127.0.0.1:9001/token"


def test_an_app_id_that_is_not_a_guid_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="teams_app_id"):
        read(monkeypatch, TEAMS_APP_ID="Baton bot")
    assert read(monkeypatch, TEAMS_TENANT_ID=TENANT.upper()).teams_tenant_id == TENANT


def test_blank_credentials_are_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    endpoints = read(monkeypatch, TEAMS_APP_ID=" ", TEAMS_APP_PASSWORD="", TEAMS_TENANT_ID="")
    assert (endpoints.teams_app_id, endpoints.teams_app_password) == (None, None)
    assert endpoints.teams_tenant_id is None


def test_an_address_that_is_not_a_url_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="teams_graph_url"):
        read(monkeypatch, TEAMS_GRAPH_URL="graph.microsoft.com")
