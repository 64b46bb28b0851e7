"""The shape of Slack's ids, for the people and channels `agreement.yml` names.

The domain takes any platform's ids; this check, applied where Baton loads the agreement
(`baton run`, `baton check`), refuses a Slack id of the wrong kind with what to write
instead, at its place in the file.
"""

import re

_SLACK_ID = re.compile(r"^[A-Z0-9]{2,64}$")
# Slack's ids say what they name: U/W a person, C a channel, G a private channel or group, D a DM.
_PERSON, _CONVERSATION = "UW", "CGD"
_WHERE_IDS = {
    "user": "their Slack member ID (U…): in Slack, their profile → ⋮ → Copy member ID",
    "channel": "its channel ID (C…): channel details → the bottom of the About tab",
}
_KINDS = {"person": "user", "conversation": "channel"}


def check_address(kind: str, value: object) -> str:
    """A Slack id of the `kind` ("person" or "conversation"), or a ValueError that says what
    the value is instead and where to find the right one."""
    named = _KINDS[kind]
    wanted, other = (_PERSON, _CONVERSATION) if named == "user" else (_CONVERSATION, _PERSON)
    text = value if isinstance(value, str) else ""
    if _SLACK_ID.match(text) and text[0] in wanted:
        return text
    if _SLACK_ID.match(text) and text[0] in other:
        whose = "a person's" if named == "channel" else "a channel's"
        raise ValueError(f'"{text}" is {whose} ID, not a {named}\'s: use {_WHERE_IDS[named]}')
    if named == "channel" and text.startswith("#"):
        raise ValueError(
            f'"{text}" is a channel name, not a Slack channel ID: use {_WHERE_IDS["channel"]}'
        )
    raise ValueError(
        f'"{value}" is not a Slack {named} ID (like {wanted[0]}0123ABC): use {_WHERE_IDS[named]}'
    )
