"""What `baton check` asks Slack: whether the bot is in the channels the agreement names."""

import logging
from pathlib import Path

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot import people as roster
from bot.agreement import Agreement
from bot.agreement_file import place
from bot.findings import Findings, one_line

# Slack's answers that say the token itself is no good, whatever the channel.
TOKEN_REFUSED = frozenset({"invalid_auth", "not_authed", "account_inactive", "token_revoked"})


def slack_channels(client: WebClient, agreement: Agreement, source: Path) -> Findings:
    """Whether the bot is a member of the sales and the marketing channel.

    Without it, cards and feedback are refused (`not_in_channel`) and wait in the dead letters.
    """
    found = Findings()
    # slack_sdk logs every failed attempt; the one line below says it for a person.
    sdk = logging.getLogger("slack_sdk")
    level = sdk.level
    sdk.setLevel(logging.CRITICAL)
    try:
        _membership(client, agreement, source, found)
    finally:
        sdk.setLevel(level)
    if not found.problems and not found.notes:
        found.notes.append("Slack: the bot is a member of the sales and the marketing channel.")
    return found


def _membership(client: WebClient, agreement: Agreement, source: Path, found: Findings) -> None:
    for key in ("sales", "marketing"):
        channel = getattr(agreement.channels, key)
        where = place(source, "channels", key)
        try:
            info = client.conversations_info(channel=channel)["channel"]
        except SlackApiError as error:
            code = error.response.get("error", "")
            if code in TOKEN_REFUSED:
                found.problems.append(
                    f"Slack refuses SLACK_BOT_TOKEN ({code}): copy the Bot User OAuth Token "
                    f"(xoxb-…) again from your Slack app's OAuth & Permissions page"
                )
                return
            if code == "missing_scope":
                found.notes.append(
                    "Slack: cannot see whether the bot is in its channels: the app lacks the "
                    "channels:read and groups:read scopes (in manifest.yml); add them and "
                    "Reinstall to Workspace."
                )
                return
            if code == "channel_not_found":
                found.problems.append(
                    f"{where}: Slack knows no channel {channel} that the bot can see: check "
                    f"the ID, and for a private channel invite the bot (/invite @Baton)"
                )
                continue
            found.problems.append(f"{where}: Slack answered {code} for {channel}")
            continue
        except (OSError, SlackClientError) as error:  # unreachable, dropped, timed out
            found.problems.append(
                f"cannot reach Slack at {client.base_url}: {one_line(error)}; check the "
                f"network, or SLACK_API_URL if you set it"
            )
            return
        if info.get("is_archived"):
            found.problems.append(f"{where}: {channel} is archived; use a channel in use")
        elif not info.get("is_member", False):
            found.problems.append(
                f"{where}: the bot is not a member of {channel}: invite it there with "
                f"/invite @Baton"
            )


def people(directory: roster.Directory, agreement: Agreement, source: Path) -> Findings:
    """Whether the platform knows every person the agreement names by email address."""
    found = Findings()
    named = list(roster.named_by_email(agreement))
    if not named:
        return found
    sdk = logging.getLogger("slack_sdk")
    level = sdk.level
    sdk.setLevel(logging.CRITICAL)
    try:
        found.problems += roster.unresolved(agreement, directory, source)
    finally:
        sdk.setLevel(level)
    if not found.problems:
        found.notes.append(f"People: all {len(named)} named by email address are known.")
    return found
