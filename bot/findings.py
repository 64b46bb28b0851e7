"""What a check of Baton's surroundings found: notes (what is so) and problems (what must
change), one line each; `baton check` prints them."""

from dataclasses import dataclass, field


@dataclass
class Findings:
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def one_line(error: BaseException) -> str:
    """A driver's message, which may span lines, as one."""
    return " ".join(str(getattr(error, "orig", None) or error).split())
