"""Bolt, as Baton runs it: over HTTP (`bot.slack.events`) and over Socket Mode.

The listeners are in `handlers/`; this module gives them the process (`bot.slack.baton`).
"""

import logging
from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.logger.messages import (
    warning_client_prioritized_and_token_skipped,
    warning_token_skipped,
)
from slack_sdk.errors import SlackApiError

import handlers
from bot.misconfigured import SettingsError
from bot.slack.baton import Baton

log = logging.getLogger(__name__)


# Payload types whose listeners Bolt finds by their first action, which it reads before any
# middleware or listener runs.
_WITH_ACTIONS = frozenset({"block_actions", "interactive_message"})


def _unreadable(body: dict[str, Any]) -> str | None:
    """Why Bolt cannot read a verified payload, if a look at its shape can tell."""
    if body.get("type") in _WITH_ACTIONS:
        actions = body.get("actions")
        if not isinstance(actions, list) or not actions:
            return "no actions"
        if not all(isinstance(action, dict) for action in actions):
            return "an action that is not an object"
    return None


class SlackApp(App):
    """Bolt, answering every verified request `200`, as Slack expects, even one it cannot read.

    Bolt reads what it needs from a payload before any listener runs (the first action of a
    `block_actions`, the user, the team, the authorizations) and assumes Slack's shapes; a
    payload of another shape would raise there, outside the listeners and `@app.error`, and
    be answered `500`, which Slack retries. A shape known to be unreadable is ignored with a
    line in the log; anything else Bolt trips over is logged with its traceback. Both HTTP and
    Socket Mode dispatch through here.
    """

    def dispatch(self, req: BoltRequest) -> BoltResponse:
        body = req.body if isinstance(req.body, dict) else {}
        if problem := _unreadable(body):
            log.info("ignored a Slack %s payload: %s", body.get("type"), problem)
            return BoltResponse(status=200, body="")
        try:
            return super().dispatch(req)
        except Exception:
            log.exception("a Slack request of type %r could not be read", body.get("type"))
            return BoltResponse(status=200, body="")


def slack_app(runtime: Baton) -> App:
    """Bolt with signature checks on; no auth.test round trip, the bot token is known.

    Without a signing secret (Socket Mode alone, where Slack's requests come over Baton's own
    authenticated connection) there is nothing to check a request with: such an app is only
    ever given to Socket Mode, and `bot.service.web.create_app` serves no
    `/slack/events` at all.

    Listeners run in the thread that answers Slack (`process_before_response`): one that
    acknowledges at once leaves its work to `Runtime.later`, so the answer never waits for a
    free listener thread, and modal submissions and slash commands can answer with their result.
    """
    token = runtime.settings.slack_bot_token or ""

    def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, bot_token=token)

    app = SlackApp(
        signing_secret=runtime.settings.slack_signing_secret or "",
        client=runtime.client,
        authorize=authorize,
        process_before_response=True,
        ignoring_self_events_enabled=False,
        request_verification_enabled=bool(runtime.settings.slack_signing_secret),
    )

    @app.error
    def failed(error: Exception) -> BoltResponse:
        """A listener that failed was still heard: Slack gets its 200 (a 500 would make it
        retry an event, or show the person an error), and the log gets the traceback."""
        log.error("a Slack listener failed", exc_info=error)
        return BoltResponse(status=200, body="")

    handlers.register(app, runtime)
    return app


def socket_mode(runtime: Baton) -> SocketModeHandler:
    """The same listeners over a Socket Mode connection, for Baton behind a firewall."""
    assert runtime.settings.slack_app_token
    return SocketModeHandler(slack_app(runtime), runtime.settings.slack_app_token)


def connect_socket_mode(runtime: Baton) -> SocketModeHandler:
    """Open the Socket Mode connection, or say in one line why Slack would not have it."""
    handler = socket_mode(runtime)
    try:
        handler.connect()
    except SlackApiError as error:
        code = error.response.get("error") if error.response is not None else None
        raise SettingsError(
            f"Slack refused SLACK_APP_TOKEN ({code or error}): set it to an app-level token "
            "(xapp-…) with connections:write, from your Slack app's Basic Information page"
        ) from None
    except OSError as error:
        raise SettingsError(
            f"cannot reach Slack to open Socket Mode ({type(error).__name__}: {error}); "
            f"check the network or SLACK_API_URL ({runtime.settings.slack_api_url})"
        ) from None
    return handler


class _BoltTokenNotice(logging.Filter):
    """Drops Bolt's warnings that the bot token is "unused" or "will be ignored".

    Baton gives Bolt its own client (Slack's address, retries) and an `authorize` that hands
    out the bot token without an `auth.test` round trip, so Bolt has no use for a token of its
    own; but Bolt reads SLACK_BOT_TOKEN from the environment by itself, whatever it is given,
    and then warns about it at every start. No argument avoids that, so the two lines go here.
    """

    def __init__(self) -> None:
        super().__init__()
        self.notices = {warning_client_prioritized_and_token_skipped(), warning_token_skipped()}

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() not in self.notices


def quiet_bolt() -> None:
    """Filter Bolt's notices about the bot token out of the log (once, however often called)."""
    bolt = logging.getLogger("slack_bolt.App")
    if not any(isinstance(f, _BoltTokenNotice) for f in bolt.filters):
        bolt.addFilter(_BoltTokenNotice())
