"""manifest.yml is pasted into Slack as is, so it has to pass Slack's own schema.

A manifest Slack refuses is only noticed at install time, by whoever sets the app up; the
schema check moves that failure here. The second half pins the parts the running app relies
on: one request URL for commands, interactivity and events, and no scope beyond what is used.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "manifest.yml"
# Slack's manifest schema (MIT, Slack Technologies), kept in the repository with its licence so
# that a clone of Baton alone can run the check.
SCHEMAS = Path(__file__).resolve().parent / "schemas"
SCHEMA = SCHEMAS / "manifest.schema.1.0.0.json"
SCHEMA_LICENCE = SCHEMAS / "LICENSE.manifest-schema"
REQUEST_URL = "https://baton.example.com/slack/events"
BOT_SCOPES = {
    "chat:write",
    "im:write",
    "channels:history",
    "groups:history",
    "im:history",
    "channels:read",
    "groups:read",
    "files:write",
    "users:read",
    "users:read.email",
    "commands",
}


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    loaded = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict), f"{MANIFEST} must hold a mapping"
    return loaded


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA.read_text(encoding="utf-8"))
    return loaded


def test_the_schema_and_its_licence_are_part_of_the_repository() -> None:
    """A clone of Baton alone runs every test: nothing is read from beside the repository."""
    assert SCHEMA.is_relative_to(ROOT) and SCHEMA.is_file()
    licence = SCHEMA_LICENCE.read_text(encoding="utf-8")
    assert licence.startswith("MIT License") and "Slack Technologies" in licence


def test_manifest_matches_slacks_schema(manifest: dict[str, Any], schema: dict[str, Any]) -> None:
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(manifest), key=lambda e: list(e.absolute_path))
    assert not errors, "manifest.yml breaks Slack's schema:\n" + "\n".join(
        f"  {'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}" for e in errors
    )


def test_slash_command(manifest: dict[str, Any]) -> None:
    (command,) = manifest["features"]["slash_commands"]
    assert command["command"] == "/baton"
    assert command["url"] == REQUEST_URL
    assert command["usage_hint"] == (
        "[help|mine|open|stats|history EMAIL|agreement|lead|away [until DATE]|back]"
    )
    assert command["should_escape"] is False
    assert command["description"]


def test_interactivity_and_events_share_the_request_url(manifest: dict[str, Any]) -> None:
    settings = manifest["settings"]
    interactivity = settings["interactivity"]
    assert interactivity["is_enabled"] is True
    assert interactivity["request_url"] == REQUEST_URL
    assert interactivity["message_menu_options_url"] == REQUEST_URL
    assert settings["event_subscriptions"]["request_url"] == REQUEST_URL
    assert settings["event_subscriptions"]["bot_events"] == ["app_home_opened"]
    assert settings["socket_mode_enabled"] is False
    assert settings["org_deploy_enabled"] is False
    assert settings["token_rotation_enabled"] is False


def test_bot_scopes_are_exactly_what_baton_uses(manifest: dict[str, Any]) -> None:
    scopes = manifest["oauth_config"]["scopes"]
    assert set(scopes["bot"]) == BOT_SCOPES
    assert len(scopes["bot"]) == len(BOT_SCOPES)
    assert "user" not in scopes


def test_baton_posts_only_where_it_can_also_read(manifest: dict[str, Any]) -> None:
    """No `chat:write.public`: it would let a card reach a channel Baton was not invited to,
    where the look-up before a retried post (`conversations.history`) answers `not_in_channel`
    and the card could only go to the dead letters. Uninvited, the first post fails at once
    with `not_in_channel`, which says what to do: invite Baton, then `baton outbox retry`."""
    assert "chat:write.public" not in manifest["oauth_config"]["scopes"]["bot"]


def test_bot_user_and_app_home(manifest: dict[str, Any]) -> None:
    features = manifest["features"]
    assert features["bot_user"] == {"display_name": "Baton", "always_online": True}
    assert features["app_home"]["home_tab_enabled"] is True
    assert features["app_home"]["messages_tab_enabled"] is True
