"""Block Kit as Slack checks it: the limits and shapes that make Slack refuse a message or a
view, with its messages and JSON pointers.

A layout Slack would refuse fails in the stand-in (a test, the demo), not in front of a sales
team. Limits are Slack's published ones for blocks, text objects and elements.
"""

from __future__ import annotations

import re
from typing import Any

MESSAGE_BLOCK_LIMIT = 50
VIEW_BLOCK_LIMIT = 100
_SELECTS = ("static_select", "multi_static_select", "radio_buttons", "checkboxes", "overflow")
# The most options each element takes, and the fewest.
_OPTIONS = {
    "static_select": (1, 100),
    "multi_static_select": (1, 100),
    "radio_buttons": (1, 10),
    "checkboxes": (1, 10),
    "overflow": (1, 5),
}


class BlockError(ValueError):
    """A Block Kit payload Slack would refuse, with a JSON pointer like Slack's messages."""

    def __init__(self, message: str, pointer: str) -> None:
        super().__init__(message)
        self.message = message
        self.pointer = pointer

    def slack_message(self) -> str:
        return f"[ERROR] {self.message} [json-pointer:{self.pointer}]"


def _check_text(obj: Any, pointer: str, *, limit: int, plain_only: bool = False) -> None:
    if not isinstance(obj, dict) or obj.get("type") not in ("plain_text", "mrkdwn"):
        raise BlockError("must be a text object (plain_text or mrkdwn)", pointer)
    if plain_only and obj["type"] != "plain_text":
        raise BlockError("must be a plain_text object", pointer + "/type")
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        raise BlockError("must be more than 0 characters", pointer + "/text")
    if len(text) > limit:
        raise BlockError(f"must be less than {limit + 1} characters", pointer + "/text")


def _check_length(value: Any, limit: int, pointer: str) -> None:
    if value is not None and len(str(value)) > limit:
        raise BlockError(f"must be less than {limit + 1} characters", pointer)


def _kind(item: Any, pointer: str, what: str, id_key: str) -> str:
    """The type of a block or an element, which must be an object with a type, and whose id
    (`id_key`) Slack takes up to 255 characters."""
    if not isinstance(item, dict) or "type" not in item:
        raise BlockError(f"must be {what} object with a type", pointer)
    _check_length(item.get(id_key), 255, f"{pointer}/{id_key}")
    return item["type"]


def _check_element(element: Any, pointer: str) -> None:
    kind = _kind(element, pointer, "an element", "action_id")
    if kind == "button":
        _check_text(element.get("text"), pointer + "/text", limit=75, plain_only=True)
        _check_length(element.get("value"), 2000, pointer + "/value")
        _check_length(element.get("url"), 3000, pointer + "/url")
    elif kind in _SELECTS:
        _check_options(element, pointer)
    elif kind == "image":
        _check_image(element, pointer)
    elif kind == "plain_text_input":
        most = element.get("max_length", 3000)
        if not isinstance(most, int) or not 1 <= most <= 3000:
            raise BlockError("must be between 1 and 3000", pointer + "/max_length")
    elif kind == "datepicker" and not re.fullmatch(
        r"\d{4}-\d{2}-\d{2}", str(element.get("initial_date", "2000-01-01"))
    ):
        raise BlockError("must be a date in the format YYYY-MM-DD", pointer + "/initial_date")
    if "placeholder" in element:
        _check_text(element["placeholder"], pointer + "/placeholder", limit=150, plain_only=True)


def _check_options(element: dict[str, Any], pointer: str) -> None:
    """A select's, radio group's or overflow menu's options: how many, and each one's text."""
    fewest, most = _OPTIONS[element["type"]]
    if "option_groups" in element and element["type"] in ("static_select", "multi_static_select"):
        return
    options = element.get("options")
    if not isinstance(options, list) or len(options) < fewest:
        raise BlockError(f"must provide at least {fewest} items", pointer + "/options")
    if len(options) > most:
        raise BlockError(f"no more than {most} items allowed", pointer + "/options")
    for i, option in enumerate(options):
        at = f"{pointer}/options/{i}"
        if not isinstance(option, dict):
            raise BlockError("must be an option object", at)
        plain = element["type"] in ("static_select", "multi_static_select", "overflow")
        _check_text(option.get("text"), at + "/text", limit=75, plain_only=plain)
        if not isinstance(option.get("value"), str) or not option["value"]:
            raise BlockError("must be more than 0 characters", at + "/value")
        _check_length(option["value"], 150, at + "/value")


def _check_image(image: dict[str, Any], pointer: str) -> None:
    if not image.get("image_url") and not image.get("slack_file"):
        raise BlockError("must provide either image_url or slack_file", pointer)
    _check_length(image.get("image_url"), 3000, pointer + "/image_url")
    alt = image.get("alt_text")
    if not isinstance(alt, str) or not alt:
        raise BlockError("must be more than 0 characters", pointer + "/alt_text")
    _check_length(alt, 2000, pointer + "/alt_text")


def _elements(block: dict[str, Any], at: str, *, most: int) -> list[Any]:
    """A block's `elements`, which must be a list of 1 to `most` items."""
    elements = block.get("elements")
    if not isinstance(elements, list) or not elements:
        raise BlockError("must provide at least 1 element", at + "/elements")
    if len(elements) > most:
        raise BlockError(f"no more than {most} items allowed", at + "/elements")
    return elements


def check_blocks(blocks: Any, limit: int) -> None:
    """Enforce the Block Kit limits Slack enforces, so a rejected layout fails in tests."""
    if not isinstance(blocks, list):
        raise BlockError("must be an array of blocks", "/blocks")
    if len(blocks) > limit:
        raise BlockError(f"no more than {limit} items allowed", "/blocks")
    for i, block in enumerate(blocks):
        at = f"/blocks/{i}"
        kind = _kind(block, at, "a block", "block_id")
        if kind == "header":
            _check_text(block.get("text"), at + "/text", limit=150, plain_only=True)
        elif kind == "section":
            if "text" not in block and "fields" not in block:
                raise BlockError("must provide either text or fields", at)
            if "text" in block:
                _check_text(block["text"], at + "/text", limit=3000)
            fields = block.get("fields")
            if fields is not None:
                if not isinstance(fields, list) or len(fields) > 10:
                    raise BlockError("no more than 10 items allowed", at + "/fields")
                for j, item in enumerate(fields):
                    _check_text(item, f"{at}/fields/{j}", limit=2000)
            if "accessory" in block:
                _check_element(block["accessory"], at + "/accessory")
        elif kind == "actions":
            elements = _elements(block, at, most=25)
            for j, element in enumerate(elements):
                _check_element(element, f"{at}/elements/{j}")
        elif kind == "context":
            elements = _elements(block, at, most=10)
            for j, element in enumerate(elements):
                if isinstance(element, dict) and element.get("type") == "image":
                    _check_image(element, f"{at}/elements/{j}")
                else:
                    _check_text(element, f"{at}/elements/{j}", limit=3000)
        elif kind == "image":
            _check_image(block, at)
        elif kind == "input":
            _check_text(block.get("label"), at + "/label", limit=2000, plain_only=True)
            _check_element(block.get("element"), at + "/element")
            if "hint" in block:
                _check_text(block["hint"], at + "/hint", limit=2000, plain_only=True)
        elif kind not in ("divider", "file", "rich_text", "video"):
            raise BlockError(f"unsupported block type: {kind}", at + "/type")


def check_view(view: Any, *, home: bool) -> None:
    if not isinstance(view, dict):
        raise BlockError("must be a view object", "/view")
    kind = view.get("type")
    if home and kind != "home":
        raise BlockError("must be a home view", "/view/type")
    if not home and kind != "modal":
        raise BlockError("must be a modal view", "/view/type")
    if kind == "modal":
        _check_text(view.get("title"), "/view/title", limit=24, plain_only=True)
        for name in ("submit", "close"):
            if name in view:
                _check_text(view[name], f"/view/{name}", limit=24, plain_only=True)
    _check_length(view.get("private_metadata"), 3000, "/view/private_metadata")
    _check_length(view.get("callback_id"), 255, "/view/callback_id")
    _check_length(view.get("external_id"), 255, "/view/external_id")
    try:
        check_blocks(view.get("blocks", []), VIEW_BLOCK_LIMIT)
    except BlockError as e:
        raise BlockError(e.message, "/view" + e.pointer) from None
