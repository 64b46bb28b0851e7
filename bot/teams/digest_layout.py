"""How many of a digest's leads fit one Teams message as lines, after the first
`bot.digests.RICH` shown with their actions: `pack`, given to `bot.digests.view` by the
transport.

Teams counts a message in bytes (about 28 KB, `bot.teams.cards.CARD_BYTES` for the card), not
in blocks as Slack does: the rich rows take what they take at most, and the lines share what
is left, each counted at its longest once written into the card."""

import json

from bot.digests import Row
from bot.teams.text import cut, markdown

LINE_ROOM = 8000
"""Bytes of the card for lines: 27 KB less a heading and twenty rich rows of long names
(about 15 KB). Twenty rich rows all at their longest (80 characters of text that needs escaping
in each name, title and company, three actions each) take 24 KB alone; then `fit_card` cuts
the longest texts, with a visible "…", rather than lose a lead."""
LINE_BYTES = {"open": 190, "done": 230}
"""A line's bytes besides the name and the company (`_digest_line.j2` inside a TextBlock), at
most: an open lead's lateness or due time is shorter than a dealt-with lead's "claimed by"."""


def pack(rows: list[Row]) -> list[list[Row]]:
    """The rows after the first `RICH` as one block of lines, as many as fit the card; the
    rest are counted as "more"."""
    lines: list[Row] = []
    room = LINE_ROOM
    for row in rows:
        size = LINE_BYTES["open" if row.state == "open" else "done"]
        size += sum(_bytes(text) for text in (row.lead.name or "", row.lead.company or ""))
        if size > room:
            break
        lines.append(row)
        room -= size
    return [lines] if lines else []


def _bytes(text: str) -> int:
    return len(json.dumps(markdown(cut(text, 40)), ensure_ascii=False).encode())
