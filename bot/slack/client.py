"""The Slack Web API client and Slack's rate limits: Baton's one way to write to Slack."""

from datetime import datetime, timedelta

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

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


class Limits:
    """Slack's limits kept by the sender, so that Slack rarely has to answer 429.

    `chat.postMessage` goes to each channel at `rate` a second with bursts of `burst`: a token
    bucket per channel, kept as GCRA (one "theoretical arrival time" per channel), so a slot can
    be handed out for later and slots come out in the order they were asked for, which keeps
    each channel's messages in order. A method that answered 429 or failed waits until its
    `not_before`; other methods and other channels carry on.

    In memory and per process: two replicas each keep their own pace.
    """

    def __init__(self, *, rate: float = 1.0, burst: int = BURST) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be above 0 and burst at least 1")
        self.rate = rate
        self.burst = burst
        self.interval = timedelta(seconds=1 / rate)
        self._tolerance = self.interval * (burst - 1)
        self._arrival: dict[str, datetime] = {}
        self._not_before: dict[str, datetime] = {}

    def reserve(self, channel: str, now: datetime) -> datetime:
        """The earliest time a message to `channel` may go; that slot is taken from now on."""
        if len(self._arrival) > 10_000:  # channels gone quiet hold no tokens: forget them
            self._arrival = {c: t for c, t in self._arrival.items() if t > now}
        arrival = self._arrival.get(channel, now)
        at = max(now, arrival - self._tolerance)
        self._arrival[channel] = max(arrival, at) + self.interval
        return at

    def not_before(self, method: str, now: datetime) -> datetime | None:
        """When `method` may be called again, if that is later than `now`."""
        until = self._not_before.get(method)
        if until is None or until <= now:
            self._not_before.pop(method, None)
            return None
        return until

    def hold(self, method: str, until: datetime) -> None:
        """Call `method` no sooner than `until` (Retry-After, or a backoff after an outage).

        For `chat.postMessage` every channel's bucket is empty at `until`: after a 429 the
        messages resume at the steady pace, not with a burst that earns the next 429.
        """
        self._not_before[method] = max(until, self._not_before.get(method, until))
        if method == POST_MESSAGE:
            empty = until + self._tolerance
            self._arrival = dict.fromkeys(self._arrival, empty)

    def release(self, method: str) -> None:
        """`method` may be called again now: Slack answers it again after an outage.

        Slack's limiter saw nothing from Baton meanwhile, so the channels have their bursts."""
        self._not_before.pop(method, None)
        if method == POST_MESSAGE:
            self._arrival.clear()

    def next_change(self, now: datetime) -> datetime | None:
        """The next time a held method may be called again, to sleep no longer than needed."""
        later = [until for until in self._not_before.values() if until > now]
        return min(later, default=None)
