"""The Slack Web API client and Slack's rate limits: Baton's one way to write to Slack."""

from datetime import timedelta

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.delivery.limits import Limits as PacedLimits
from bot.misconfigured import SettingsError
from bot.people import DirectoryUnavailable

POST_MESSAGE = "chat.postMessage"
"""The method Slack paces per channel: about one message a second, with short bursts."""
BURST = 3
"""Messages a quiet channel takes at once before the pace applies."""

SlackClient = WebClient
"""The Web API client, as the process that composes Baton names it."""


def make_client(*, token: str | None, base_url: str) -> WebClient:
    """The client Bolt's listeners use: a person is waiting, so a short retry is worth it.

    429s wait for Retry-After; 5xx and dropped connections are retried a few times. The outbox
    does not use these retries (see `without_retries`): it schedules them instead of sleeping.
    """
    return WebClient(
        token=token or None,
        base_url=base_url,
        timeout=10,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=2),
            RateLimitErrorRetryHandler(max_retry_count=3),
            ServerErrorRetryHandler(max_retry_count=2),
        ],
    )


def without_retries(client: WebClient) -> WebClient:
    """The same client, answering every failure at once instead of sleeping and retrying.

    The built-in handlers sleep inside the call (Retry-After can be a minute), which would hold
    every other channel up behind one rate-limited message. The outbox keeps the wait in
    `next_attempt_at` instead, and retrying a request whose answer was lost is its decision.
    """
    return WebClient(
        token=client.token,
        base_url=client.base_url,
        timeout=client.timeout,
        ssl=client.ssl,
        proxy=client.proxy,
        headers={k: v for k, v in client.headers.items() if k.lower() != "user-agent"},
        retry_handlers=[],
    )


class SlackDirectory:
    """The workspace's people by email address (`users.lookupByEmail`, scope users:read.email)."""

    platform = "slack"

    def __init__(self, client: WebClient) -> None:
        self.client = client

    def email_of(self, user: str) -> str | None:
        """The e-mail on a person's profile (`users.info`): what a CRM knows its users by.

        Slack's errors are left to the caller (the outbox worker sorts them)."""
        profile = self.client.users_info(user=user)["user"].get("profile") or {}
        return profile.get("email") or None

    def user_by_email(self, email: str) -> str | None:
        try:
            return self.client.users_lookupByEmail(email=email)["user"]["id"]
        except SlackApiError as error:
            code = error.response.get("error", "")
            if code == "users_not_found":
                return None
            if code == "missing_scope":
                raise DirectoryUnavailable(
                    "Slack cannot look people up by email: the app lacks the users:read.email "
                    "scope (in manifest.yml); add it and Reinstall to Workspace"
                ) from None
            raise DirectoryUnavailable(f"Slack answered {code} to users.lookupByEmail") from None
        except (OSError, SlackClientError) as error:
            reason = " ".join(str(error).split())
            raise DirectoryUnavailable(
                f"cannot reach Slack at {self.client.base_url} to look people up: {reason}"
            ) from None


class _Pace(BaseSettings):
    """Read like `Settings` (environment, then `.env`), so the knob lives where the others do."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    baton_slack_channel_rate: float = Field(default=1.0, gt=0, le=1000)


def posting_time(count: int, *, rate: float | None = None, burst: int = BURST) -> timedelta:
    """How long posting `count` messages to one channel takes at the pace Baton keeps: the
    first `burst` at once, then `rate` a second (`BATON_SLACK_CHANNEL_RATE` unless given).

    What `baton import` tells before it queues many cards. Messages already waiting for the
    channel come first, and replicas each keep their own pace: this is the time for `count`
    alone, from one process."""
    rate = channel_rate() if rate is None else rate
    return timedelta(seconds=max(0, count - burst) / rate)


def channel_rate() -> float:
    """Messages a second Baton posts to one channel: `BATON_SLACK_CHANNEL_RATE`, default 1.

    Slack allows about one a second per channel; a higher rate only makes sense against a test
    double, where hundreds of cards should not take minutes.
    """
    try:
        return _Pace().baton_slack_channel_rate
    except ValidationError:
        raise SettingsError(
            "BATON_SLACK_CHANNEL_RATE must be a number of messages a second above 0 "
            "(Slack allows about 1 per channel)"
        ) from None


class Limits(PacedLimits):
    """Slack's limits kept by the sender (`bot.delivery.limits`): `chat.postMessage` is the
    method paced per channel."""

    def __init__(self, *, rate: float = 1.0, burst: int = BURST) -> None:
        super().__init__(rate=rate, burst=burst, paced=POST_MESSAGE)
