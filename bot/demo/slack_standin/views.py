"""The stand-in's modals and App Home (views.*), trigger ids, ephemeral messages, and
what one person sees, which the demo's page shows.

A mixin of `FakeSlack`, whose `__init__` holds the state it works on.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from bot.demo.block_rules import (
    BlockError,
    check_view,
)
from bot.demo.slack_standin.calls import (
    APP_ID,
    BOT_ID,
    TEAM_ID,
    _maybe_json,
    _missing,
)

TRIGGER_LIFETIME = 3.0  # seconds a trigger id is good for, as in Slack


class ViewsMixin:
    """Views by id and by user, the triggers that open them, and each person's view."""

    # what a person sees (the demo's page) -------------------------------------------------

    def issue_trigger(self, user_id: str) -> str:
        """A trigger id as Slack puts in an interaction: good for one modal, for 3 s."""
        with self._lock:
            trigger = f"{int(self._clock())}.{secrets.randbelow(10**9):09d}.{secrets.token_hex(10)}"
            self._triggers[trigger] = (user_id, time.monotonic())
            return trigger

    def _take_trigger(self, trigger: str) -> str | dict[str, Any]:
        """The user a trigger was issued to, or Slack's error for it."""
        issued = self._triggers.get(trigger)
        if issued is None:
            error = "exchanged_trigger_id" if trigger in self._spent else "invalid_trigger_id"
            return {"ok": False, "error": error} if self._strict else ""
        user, at = issued
        if time.monotonic() - at > TRIGGER_LIFETIME:
            return {"ok": False, "error": "expired_trigger_id"}
        del self._triggers[trigger]
        self._spent.add(trigger)
        return user

    def add_ephemeral(self, channel: str, user_id: str, message: dict[str, Any]) -> None:
        """Show a message to one person only, as Slack does with a slash command's answer."""
        with self._arrived:
            self._ephemeral.append({**message, "channel": channel, "user": user_id})
            self._ephemeral[-1]["ts"] = self._next_ts()
            self.version += 1
            self._arrived.notify_all()

    def view(self, view_id: str) -> dict[str, Any] | None:
        """An open modal or a published App Home by view id, as Slack holds it."""
        with self._lock:
            if view_id in self._views:
                return dict(self._views[view_id])
            for home in self._homes.values():
                if home["id"] == view_id:
                    return dict(home)
            return None

    def replace_view(self, view_id: str, view: dict[str, Any] | None) -> None:
        """After a submission: Slack closes the modal (None) or shows the view it was given."""
        with self._arrived:
            if view is None:
                self._views.pop(view_id, None)
            elif view_id in self._views:
                user = self._views[view_id]["user"]
                self._views[view_id] = {**self._view_object(view, view_id), "user": user}
            self.version += 1
            self._arrived.notify_all()

    def wait_change(self, after: int, timeout: float) -> int:
        """Block until something a person could see changed past version ``after``."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while self.version <= after:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._arrived.wait(remaining)
            return self.version

    def snapshot(self, user_id: str) -> dict[str, Any]:
        """What ``user_id`` sees: every conversation with its threads, their own ephemeral
        messages, their open modal and their App Home."""
        with self._lock:
            conversations = {
                channel: [
                    {**m, "replies": [dict(r) for r in self._threads.get((channel, m["ts"]), [])]}
                    for m in messages
                ]
                for channel, messages in self._history.items()
            }
            modal = next(
                (dict(v) for v in reversed(self._views.values()) if v["user"] == user_id), None
            )
            return {
                "version": self.version,
                "conversations": conversations,
                "ephemeral": [dict(m) for m in self._ephemeral if m["user"] == user_id],
                "modal": modal,
                "home": self._homes.get(user_id),
            }

    def _view_problem(self, view: Any, *, home: bool) -> dict[str, Any] | None:
        try:
            check_view(view, home=home)
        except BlockError as e:
            return {
                "ok": False,
                "error": "invalid_arguments",
                "response_metadata": {"messages": [e.slack_message()]},
            }
        return None

    def _view_object(self, view: dict[str, Any], view_id: str) -> dict[str, Any]:
        return {
            "id": view_id,
            "team_id": TEAM_ID,
            "app_id": APP_ID,
            "bot_id": BOT_ID,
            "type": view.get("type"),
            "title": view.get("title"),
            "submit": view.get("submit"),
            "close": view.get("close"),
            "blocks": view.get("blocks", []),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "external_id": view.get("external_id", ""),
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{self._id_counter:08d}",
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "root_view_id": view_id,
            "previous_view_id": None,
        }

    def _views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        if not (params.get("trigger_id") or params.get("interactivity_pointer")):
            return _missing("trigger_id")
        if not params.get("view"):
            return _missing("view")
        user = self._take_trigger(str(params.get("trigger_id") or ""))
        if isinstance(user, dict):
            return user
        view = _maybe_json(params["view"])
        problem = self._view_problem(view, home=False)
        if problem:
            return problem
        view_id = self._next_id("V")
        if view.get("external_id"):
            self._external_views[view["external_id"]] = view_id
        shown = self._view_object(view, view_id)
        if user:
            self._views[view_id] = {**shown, "user": user}
        return {"ok": True, "view": shown}

    def _views_update(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("view"):
            return _missing("view")
        view_id = params.get("view_id")
        external_id = params.get("external_id")
        if not view_id and not external_id:
            return _missing("view_id")
        if not view_id:
            view_id = self._external_views.get(external_id)
            if view_id is None:
                return {"ok": False, "error": "not_found"}
        view = _maybe_json(params["view"])
        problem = self._view_problem(view, home=view.get("type") == "home")
        if problem:
            return problem
        shown = self._view_object(view, view_id)
        if view_id in self._views:
            self._views[view_id] = {**shown, "user": self._views[view_id]["user"]}
        return {"ok": True, "view": shown}

    def _views_publish(self, params: dict[str, Any]) -> dict[str, Any]:
        user_id = params.get("user_id")
        if not user_id:
            return _missing("user_id")
        if not params.get("view"):
            return _missing("view")
        view = _maybe_json(params["view"])
        problem = self._view_problem(view, home=True)
        if problem:
            return problem
        if user_id not in self._published_views:
            self._published_views[user_id] = self._next_id("V")
        shown = self._view_object(view, self._published_views[user_id])
        self._homes[user_id] = shown
        return {"ok": True, "view": shown}
