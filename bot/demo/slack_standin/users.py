"""The stand-in's workspace people and app: auth.test, users.*, apps.connections.open.

A mixin of `FakeSlack`, whose `__init__` holds the state it works on.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.demo.slack_standin.calls import (
    APP_ID,
    BOT_ID,
    BOT_USER_ID,
    TEAM_ID,
    TEAM_NAME,
)

DEFAULT_TZ = "Europe/Copenhagen"


class UsersMixin:
    """Who is in the workspace, as users.info and users.lookupByEmail tell it."""

    def set_user(self, user_id: str, **fields: Any) -> None:
        """Override what ``users.info`` returns for a user (e.g. ``tz="America/New_York"``);
        with ``email=``, ``users.lookupByEmail`` finds them by that address."""
        with self._lock:
            self._users.setdefault(user_id, {}).update(fields)

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://test.slack.com/",
            "team": TEAM_NAME,
            "user": "baton",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "is_enterprise_install": False,
        }

    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user_id = params.get("user")
        if not user_id:
            return {"ok": False, "error": "user_not_found"}
        overrides = dict(self._users.get(user_id, {}))
        is_bot = user_id == BOT_USER_ID
        name = overrides.pop("name", "baton" if is_bot else f"user.{user_id.lower()}")
        real_name = overrides.pop("real_name", "Baton" if is_bot else f"User {user_id}")
        tz = overrides.pop("tz", DEFAULT_TZ)
        email = overrides.pop("email", f"{name}@example.com")
        tz_label, tz_offset = _tz_details(tz)
        user = {
            "id": user_id,
            "team_id": TEAM_ID,
            "name": name,
            "real_name": real_name,
            "deleted": False,
            "is_bot": is_bot,
            "is_admin": False,
            "tz": tz,
            "tz_label": tz_label,
            "tz_offset": tz_offset,
            "profile": {
                "real_name": real_name,
                "display_name": name,
                "email": email,
            },
        }
        user.update(overrides)
        return {"ok": True, "user": user}

    def _users_lookup_by_email(self, params: dict[str, Any]) -> dict[str, Any]:
        """Slack answers `users_not_found` for an address nobody in the workspace has."""
        email = str(params.get("email") or "").casefold()
        for user_id, fields in self._users.items():
            if str(fields.get("email", "")).casefold() == email and email:
                return self._users_info({"user": user_id})
        return {"ok": False, "error": "users_not_found"}

    def _apps_connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        url = self.socket_url or f"ws://127.0.0.1:{self.port}/link/?ticket=fake-ticket"
        return {"ok": True, "url": url}


def _tz_details(tz: str) -> tuple[str, int]:
    try:
        now = datetime.now(ZoneInfo(tz))
    except (KeyError, ValueError):
        return tz, 0
    offset = now.utcoffset()
    return (now.tzname() or tz), int(offset.total_seconds()) if offset else 0
