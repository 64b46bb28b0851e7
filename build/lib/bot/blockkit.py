"""Block Kit's limits, enforced on every rendered payload so Slack never rejects a message;
and how user text is written into each kind of text object so that it shows as typed.

User text arrives escaped (`&amp;`, `&lt;`, `&gt;`); cutting must not split an entity or a
mention, and a cut is always visible as "…".
"""

import re
from typing import Any

MESSAGE_BLOCKS, VIEW_BLOCKS = 50, 100
TEXT_LIMITS = {"header": 150, "section": 3000, "context": 2000, "fields": 2000}
BUTTON_TEXT, OPTION_TEXT, FALLBACK_TEXT = 75, 75, 3000
_DANGLING = re.compile(r"(&[a-z#0-9]{0,6}|<[^>]*)$")


def escape(text: str) -> str:
    """Slack's three entities: a lead named `<!channel>` must ping nobody."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# Slack's mrkdwn has no escape for its formatting characters (its documentation escapes only
# `&`, `<` and `>`), so in user text each is replaced by a character that looks the same and
# that no formatting rule knows; Slack's fullwidth forms are formatting too.
_LOOKALIKES = str.maketrans(
    {
        "*": "\u2217",  # ∗ asterisk operator
        "_": "\u02cd",  # ˍ modifier letter low macron
        "~": "\u223c",  # ∼ tilde operator
        "`": "\u02cb",  # ˋ modifier letter grave accent
        "\uff0a": "\ufe61",  # fullwidth asterisk -> ﹡ small asterisk
        "\uff3f": "\u2e0f",  # fullwidth low line -> ⸏ paragraphos
        "\uff40": "\u02cb",  # fullwidth grave accent -> ˋ
    }
)
SPECIAL = re.compile("[&<>*_~`\uff0a\uff3f\uff40\uff1e]")
"""A character that `mrkdwn` and `plain` write differently; text without one reads the same."""
_QUOTE_AT_LINE_START = re.compile(r"(^|\n)(?=&gt;|\uff1e)")
_MENTION_START = re.compile(r"<(?=[!@#])")
WORD_JOINER = "\u2060"
SOFT_HYPHEN = "\u00ad"


def mrkdwn(text: str) -> str:
    """User text for a `mrkdwn` text object, shown as typed and formatting nothing.

    `&`, `<` and `>` become Slack's entities, as Slack documents ("Formatting text for app
    surfaces": escaping): no mention, link or channel from user text. For `*bold*`,
    `_italic_`, `~strike~` and `` `code` `` Slack documents no escape at all, and what
    zero-width characters do around them is not documented either (a zero-width space is
    even how formatting is forced inside a word), so each of those characters is replaced by
    a look-alike that no formatting rule matches: `∗ ˍ ∼ ˋ`. A `>` that starts a line would
    quote it, entity or not, so it gets an invisible soft hyphen before it. The text reads the
    same; copied out of Slack, those few characters are the look-alikes. (Where a value
    stands alone it goes in a `plain_text` object instead, which shows every character as
    it is: see `plain`.)
    """
    written = escape(text.translate(_LOOKALIKES))
    if "&gt;" in written or "\uff1e" in written:
        written = _QUOTE_AT_LINE_START.sub(rf"\1{SOFT_HYPHEN}", written)
    return written


def plain(text: str) -> str:
    """User text for a `plain_text` object, which Slack shows as is: no entities, since
    `&lt;` would show as `&lt;`, and no look-alikes. Only a `<` before `!`, `@` or `#` gets
    an invisible word joiner after it, so that no payload ever carries `<!…>`, `<@…>` or
    `<#…>` from user text, even where Slack would not read it."""
    return unmention(text)


def unmention(text: str) -> str:
    """`<!`, `<@`, `<#` with an invisible word joiner between: never a mention or a link."""
    return _MENTION_START.sub("<" + WORD_JOINER, text)


def cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return _DANGLING.sub("", text[: limit - 1]) + "…"


def _cut_text(obj: dict[str, Any] | None, limit: int) -> None:
    if obj and isinstance(obj.get("text"), str):
        obj["text"] = cut(obj["text"], limit)
        if obj.get("type") == "mrkdwn":
            # Slack would otherwise turn a bare URL, `#name` or `@here` in user text into a
            # link or a mention. Baton's own markup writes them out (`<@U…>`, `<#C…>`,
            # `<url|text>`), which verbatim text still honours.
            obj["verbatim"] = True


def fit_block(block: dict[str, Any]) -> dict[str, Any]:
    kind = block.get("type")
    if kind == "header":
        _cut_text(block.get("text"), TEXT_LIMITS["header"])
    elif kind == "section":
        _cut_text(block.get("text"), TEXT_LIMITS["section"])
        block["fields"] = block.get("fields", [])[:10] or None
        for item in block["fields"] or []:
            _cut_text(item, TEXT_LIMITS["fields"])
        if block["fields"] is None:
            del block["fields"]
    elif kind == "context":
        block["elements"] = block.get("elements", [])[:10]
        for item in block["elements"]:
            _cut_text(item, TEXT_LIMITS["context"])
    elif kind == "actions":
        block["elements"] = block.get("elements", [])[:25]
        for item in block["elements"]:
            _cut_text(item.get("text"), BUTTON_TEXT)
            for option in item.get("options", []):
                _cut_text(option.get("text"), OPTION_TEXT)
    return block


def fit_blocks(blocks: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """Cut every text to its limit and the list to `limit` blocks, saying so in the last one."""
    fitted = [fit_block(block) for block in blocks]
    if len(fitted) > limit:
        more = len(fitted) - limit + 1
        fitted = [
            *fitted[: limit - 1],
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"…and {more} more"}]},
        ]
    return fitted


def fit_message(message: dict[str, Any]) -> dict[str, Any]:
    if "text" in message:
        message["text"] = cut(message["text"], FALLBACK_TEXT)
    if "blocks" in message:
        message["blocks"] = fit_blocks(message["blocks"], MESSAGE_BLOCKS)
    return message


def fit_view(view: dict[str, Any]) -> dict[str, Any]:
    for key, limit in (("title", 24), ("submit", 24), ("close", 24)):
        _cut_text(view.get(key), limit)
    view["blocks"] = fit_blocks(view.get("blocks", []), VIEW_BLOCKS)
    return view
