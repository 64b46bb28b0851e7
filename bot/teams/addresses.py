"""The shape of Teams' ids, for the people and channels `agreement.yml` names.

With `platform: teams`, a channel is Teams' channel id (`19:…@thread.tacv2`, or
`…@thread.skype` for an older team) and a person is named by email address or by their
Microsoft Entra object id (a GUID), the id Teams gives with everything they do
(`aadObjectId`). This check, applied where Baton loads the agreement, refuses anything else
with what to write instead, at its place in the file.
"""

import re

_CHANNEL = re.compile(r"^19:[^\s@]+@thread\.(tacv2|skype)$")
_ENTRA = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
_SLACK = re.compile(r"^[UWCGD][A-Z0-9]{2,63}$")
_WHERE = {
    "person": (
        "their email address, or their Microsoft Entra object ID (a GUID): Entra admin "
        "center → Users → the person → Object ID"
    ),
    "channel": (
        "its channel ID (19:…@thread.tacv2): in Teams, the channel's ⋯ → Get link to channel; "
        "the ID is the part after /channel/, with %3a read as : and %40 as @"
    ),
}


def check_address(kind: str, value: object) -> str:
    """A Teams id of the `kind` ("person" or "conversation"), or a ValueError that says what
    the value is instead and where to find the right one."""
    text = value.strip() if isinstance(value, str) else ""
    if kind == "person":
        if _ENTRA.match(text):
            return text.lower()  # Teams writes them in lower case
        if _CHANNEL.match(text):
            raise ValueError(
                f"\"{text}\" is a channel's ID, not a person's: use {_WHERE['person']}"
            )
        if text.startswith(("29:", "8:orgid:")):
            raise ValueError(
                f'"{text}" is the id Teams gives a person in the bot\'s conversations, not their '
                f"Entra object ID: use {_WHERE['person']}"
            )
        return _other(text, value, "person")
    if _CHANNEL.match(text):
        return text
    if _ENTRA.match(text):
        raise ValueError(
            f"\"{text}\" is a team's or a person's ID, not a channel's: use {_WHERE['channel']}"
        )
    if text.startswith("#"):
        raise ValueError(f'"{text}" is a channel name, not a channel ID: use {_WHERE["channel"]}')
    return _other(text, value, "channel")


def _other(text: str, value: object, named: str) -> str:
    if _SLACK.match(text):
        raise ValueError(
            f'"{text}" is a Slack ID, and the agreement says platform: teams: use {_WHERE[named]}'
        )
    raise ValueError(f'"{value}" is not a Teams {named} ID: use {_WHERE[named]}')
