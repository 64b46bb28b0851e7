"""The Teams app package: manifest.json and the two icons, zipped, for upload to Teams.

The manifest (schema v1.19) declares the bot for the sales channel's team and for 1:1 chats,
its commands (the `/baton` subcommands of Slack, which Teams lists when someone types `@Baton`),
the domain `baton run` is reached at, and the one resource-specific permission the lookup
before a retry needs (`ChannelMessage.Read.Group`: read the channels of the team Baton is
installed in; see README.md, "Exactly once"). The icons are drawn here (a baton across a
square), so the package needs no files beside Baton: a 192×192 colour icon, and the 32×32
outline Teams wants white on transparent.
"""

import io
import json
import re
import struct
import zipfile
import zlib
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

SCHEMA = "https://developer.microsoft.com/en-us/json-schemas/teams/v1.19/MicrosoftTeams.schema.json"
MANIFEST_VERSION = "1.19"
ACCENT = "#1D4E89"  # the Slack app's background colour
COMMANDS = (
    ("help", "What Baton does and what you can ask"),
    ("mine", "Your leads and their next deadlines"),
    ("open", "Leads nobody has claimed yet"),
    ("stats", "The scorecard: did both sides keep the agreement"),
    ("agreement", "The agreement: the qualified lead, the clocks, who is who"),
    ("history", "Every event of a lead: history EMAIL or ID"),
    ("lead", "Hand a lead over to Sales, in a form (Marketing)"),
    ("away", "You are away: no new leads (away until YYYY-MM-DD)"),
    ("back", "You are back: leads again"),
)
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_HOST = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,63}$")

Pixel = tuple[int, int, int, int]


def manifest(
    *,
    app_id: str,
    domain: str,
    developer: str,
    website: str,
    privacy: str,
    terms: str,
    app_version: str | None = None,
) -> dict[str, Any]:
    """The manifest of the Teams app whose bot is the Entra app `app_id`, reached at `domain`
    (the host of `POST /api/messages`). The URLs are the publisher's pages Teams links to."""
    if not _GUID.match(app_id):
        raise ValueError(f'TEAMS_APP_ID "{app_id}" is not an Entra application id (a GUID)')
    if not _HOST.match(domain):
        raise ValueError(f'"{domain}" is not a host name like baton.example.com')
    for name, url in (("website", website), ("privacy", privacy), ("terms", terms)):
        if not url.startswith("https://"):
            raise ValueError(f"the {name} URL must start with https:// ({url})")
    scopes = ["team", "personal"]
    return {
        "$schema": SCHEMA,
        "manifestVersion": MANIFEST_VERSION,
        "version": app_version or _baton_version(),
        "id": app_id,
        "developer": {
            "name": developer[:32],
            "websiteUrl": website,
            "privacyUrl": privacy,
            "termsOfUseUrl": terms,
        },
        "name": {"short": "Baton", "full": "Baton: the lead agreement of Sales and Marketing"},
        "description": {
            "short": "Qualified leads to Sales, claimed in time, with feedback to Marketing",
            "full": (
                "Baton keeps the agreement between Sales and Marketing about leads: qualified "
                "leads to the sales channel, claim and feedback on each card, reminders before "
                "a deadline and escalations after one. Marketing reads the feedback in each "
                "lead's thread and in a weekly digest; the CEO gets escalations and a two-sided "
                "scorecard of who kept their side of the agreement."
            ),
        },
        "icons": {"color": "color.png", "outline": "outline.png"},
        "accentColor": ACCENT,
        "bots": [
            {
                "botId": app_id,
                "scopes": scopes,
                "isNotificationOnly": False,
                "supportsFiles": False,
                "commandLists": [
                    {
                        "scopes": scopes,
                        "commands": [
                            {"title": title, "description": text} for title, text in COMMANDS
                        ],
                    }
                ],
            }
        ],
        "permissions": ["identity", "messageTeamMembers"],
        "validDomains": [domain],
        "webApplicationInfo": {"id": app_id, "resource": f"api://botid-{app_id}"},
        "authorization": {
            "permissions": {
                "resourceSpecific": [{"name": "ChannelMessage.Read.Group", "type": "Application"}]
            }
        },
    }


def package(app_manifest: dict[str, Any]) -> bytes:
    """The zip Teams takes: manifest.json and the two icons at its root."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", json.dumps(app_manifest, indent=2, ensure_ascii=False))
        archive.writestr(app_manifest["icons"]["color"], color_icon())
        archive.writestr(app_manifest["icons"]["outline"], outline_icon())
    return buffer.getvalue()


def color_icon() -> bytes:
    """192×192: a white baton across the accent colour, the full-colour icon."""
    accent = _rgb(ACCENT)
    return _png(192, lambda x, y: (255, 255, 255, 255) if _on_baton(x, y, 192) else accent)


def outline_icon() -> bytes:
    """32×32: the baton in white on transparent, as Teams requires of the outline icon."""
    return _png(32, lambda x, y: (255, 255, 255, 255) if _on_baton(x, y, 32) else (0, 0, 0, 0))


def _on_baton(x: int, y: int, size: int) -> bool:
    """A bar from the lower left to the upper right, a fifth of the icon wide, with margins."""
    margin = size * 0.2
    if not (margin <= x < size - margin and margin <= y < size - margin):
        return False
    return abs((x + 0.5) + (y + 0.5) - size) <= size * 0.1


def _rgb(color: str) -> Pixel:
    value = int(color.lstrip("#"), 16)
    return (value >> 16 & 255, value >> 8 & 255, value & 255, 255)


def _png(size: int, pixel: Callable[[int, int], Pixel]) -> bytes:
    """A square RGBA PNG, written with the standard library."""
    rows = b"".join(
        b"\x00" + b"".join(bytes(pixel(x, y)) for x in range(size)) for y in range(size)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


def _baton_version() -> str:
    try:
        return version("baton")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "0.0.0"
