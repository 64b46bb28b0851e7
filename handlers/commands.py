"""The /baton slash command."""

from typing import Any

from slack_bolt import Ack, App

from bot.runtime import Runtime


def baton_command(ack: Ack, command: dict[str, Any], baton: Runtime) -> None:
    ack(**baton.renderer.message("help", text=command.get("text", "")))


def register(app: App) -> None:
    app.command("/baton")(baton_command)
