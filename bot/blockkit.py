"""Block Kit's limits, enforced on every rendered payload so Slack never rejects a message.

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


def cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return _DANGLING.sub("", text[: limit - 1]) + "…"


def _cut_text(obj: dict[str, Any] | None, limit: int) -> None:
    if obj and isinstance(obj.get("text"), str):
        obj["text"] = cut(obj["text"], limit)


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
