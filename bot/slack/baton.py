"""What the Slack adapter and its listeners use of the running process.

`bot.service.runtime.Runtime` is the one implementation; the adapter names only what it needs,
so it depends on the domain and never on the process that composes it.
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from slack_sdk import WebClient

from bot.agreement import Agreement
from bot.context import Context
from bot.slack.render import Renderer


class SlackSettings(Protocol):
    """The settings the adapter reads (`bot.service.settings.Settings` has them)."""

    @property
    def slack_bot_token(self) -> str | None: ...
    @property
    def slack_signing_secret(self) -> str | None: ...
    @property
    def slack_app_token(self) -> str | None: ...
    @property
    def slack_api_url(self) -> str: ...
    @property
    def baton_agreement(self) -> Path: ...


class Baton(Protocol):
    """The process as the listeners see it: the agreement, the domain's context, Slack's
    client, the renderer, and `later` for work done after Slack has had its answer."""

    @property
    def settings(self) -> SlackSettings: ...
    @property
    def agreement(self) -> Agreement: ...
    @property
    def ctx(self) -> Context: ...
    @property
    def client(self) -> WebClient: ...
    @property
    def renderer(self) -> Renderer: ...
    def later(self, work: Callable[..., None], *args: Any) -> None: ...
