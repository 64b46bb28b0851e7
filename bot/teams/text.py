"""User text in an Adaptive Card, shown as typed, and cut to a length with a visible "…".

Teams reads the `text` of a TextBlock and the title and value of a fact as a subset of
Markdown: `**bold**`, `_italic_`, `[links](url)`, lists at the start of a line, HTML
entities, and `{{DATE(…)}}`/`{{TIME(…)}}` functions. A lead named `**Free** [offer](x)` must
show just so, so in user text each of those is taken apart with an invisible word joiner or
replaced by a look-alike that no rule knows (`∗` for `*`, `ˍ` for `_`), as Baton does for
Slack's mrkdwn (`bot.blockkit`). Text that Teams shows as is (a `TextRun`, an input's value,
an action's data) is left as it is.
"""

import re

WORD_JOINER = "\u2060"
_LOOKALIKES = str.maketrans({"*": "\u2217", "_": "\u02cd"})
_LINE_MARKER = re.compile(r"^([ \t]*)(?=[-+#>][ \t]|\d+[.)][ \t])", re.MULTILINE)
_ENTITY = re.compile(r"&(?=#?[A-Za-z0-9]+;)")
_LINK = re.compile(r"\](?=\()")
_FUNCTION = re.compile(r"\{(?=\{)")
_ESCAPE = re.compile(r"\\(?=[!-/:-@\[-`{-~])")
SPECIAL = re.compile(r"[*_&\]{\\]|^[ \t]*(?:[-+#>]|\d+[.)])[ \t]", re.MULTILINE)
"""Whatever any of the rules above could change: most text has none of it, and is as it is."""
_MARKS = re.compile(r"[*_&\]{\\]")
"""The characters `SPECIAL` finds anywhere; the rest of it only at the start of a line."""
_MAY_MARK_A_LINE = frozenset("-+#>")


def special(text: str) -> bool:
    """Whether `SPECIAL` finds anything in `text`, as `SPECIAL.search` says, but cheaper for
    the usual one-line text: a card asks this of every value it writes, and `SPECIAL`'s
    line-start rule is tried at every position of the text."""
    if _MARKS.search(text):
        return True
    if "\n" not in text:  # one line: only its start can be a list marker or a heading
        first = text.lstrip(" \t")[:1]
        if not first or (first not in _MAY_MARK_A_LINE and not first.isdigit()):
            return False
    return SPECIAL.search(text) is not None


def markdown(text: str) -> str:
    """`text` for a place Teams formats, reading the same and formatting nothing."""
    if not special(text):
        return text
    written = text.translate(_LOOKALIKES)
    written = _ENTITY.sub("&" + WORD_JOINER, written)
    written = _LINK.sub("]" + WORD_JOINER, written)
    written = _FUNCTION.sub("{" + WORD_JOINER, written)
    written = _ESCAPE.sub("\\\\" + WORD_JOINER, written)
    return _LINE_MARKER.sub(r"\1" + WORD_JOINER, written)


def cut(text: str, limit: int) -> str:
    """At most `limit` characters; a cut shows as "…"."""
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + "…"
