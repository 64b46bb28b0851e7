"""How many of a digest's leads fit one Slack message as lines, after the first
`bot.digests.RICH` shown as sections: `pack`, given to `bot.digests.view` by the transport."""

from bot.digests import Row
from bot.slack import blockkit

LINE_BLOCKS = 28
"""With a heading, 20 sections and a closing line, 28 blocks of lines fill Slack's 50."""
LINE_ROOM = 2800
"""Characters of lines in one block: Slack's 3,000 for a section, less a margin."""
LINE_TEXT = {"open": 50, "done": 80}
"""A line's characters besides the name, the company and the link (`_digest_line.j2`), at
most: an open lead's lateness or due time is shorter than a dealt-with lead's strike-through
and "claimed by"."""


def pack(rows: list[Row]) -> list[list[Row]]:
    """The rows after the first `RICH`, as blocks of lines that each fit a section (by their
    length once escaped), as many blocks as the message has room for; the rest do not fit."""
    blocks: list[list[Row]] = []
    room = 0
    for row in rows:
        length = LINE_TEXT["open" if row.state == "open" else "done"] + len(row.link or "")
        length += sum(len(blockkit.escape(blockkit.cut(text, 40))) for text in _named(row))
        if not blocks or length > room:
            if len(blocks) == LINE_BLOCKS:
                break
            blocks.append([])
            room = LINE_ROOM
        blocks[-1].append(row)
        room -= length + 1
    return blocks


def _named(row: Row) -> tuple[str, str]:
    return row.lead.name or "", row.lead.company or ""
