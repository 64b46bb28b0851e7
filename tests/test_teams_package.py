"""The Teams app package is what Teams accepts on upload: a manifest valid against Microsoft's
published schema (v1.19), and the two icons at the sizes and colours Teams requires."""

import io
import json
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from bot.teams import commands as answered
from bot.teams.package import COMMANDS, color_icon, manifest, outline_icon, package

# Microsoft's Teams app manifest schema v1.19 (MIT, Microsoft), kept with its licence.
SCHEMAS = Path(__file__).resolve().parent / "schemas"
SCHEMA = SCHEMAS / "teams-manifest.schema.1.19.json"
SCHEMA_LICENCE = SCHEMAS / "LICENSE.teams-manifest-schema"
APP_ID = "8f4f4b6e-2f6a-4f1e-9a57-3b1d7c0e5a21"


def make(**changes: Any) -> dict[str, Any]:
    values = {
        "app_id": APP_ID,
        "domain": "baton.example.com",
        "developer": "Nordlys Maskinfabrik A/S",
        "website": "https://nordlys.example/baton",
        "privacy": "https://nordlys.example/privacy",
        "terms": "https://nordlys.example/terms",
        **changes,
    }
    return manifest(**values)


def pixels(png: bytes) -> tuple[int, int, list[tuple[int, ...]]]:
    """Width, height and RGBA pixels of a PNG as `bot.teams.package` writes them."""
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    at, chunks = 8, {}
    while at < len(png):
        (length,) = struct.unpack(">I", png[at : at + 4])
        kind, data = png[at + 4 : at + 8], png[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", png[at + 8 + length : at + 12 + length])
        assert zlib.crc32(kind + data) & 0xFFFFFFFF == crc
        chunks[kind] = data
        at += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, colour) == (8, 6)
    raw = zlib.decompress(chunks[b"IDAT"])
    stride = 1 + 4 * width
    found = []
    for y in range(height):
        row = raw[y * stride : (y + 1) * stride]
        assert row[0] == 0
        found += [tuple(row[1 + 4 * x : 5 + 4 * x]) for x in range(width)]
    return width, height, found


def test_the_schema_and_its_licence_are_part_of_the_repository() -> None:
    assert "Microsoft" in SCHEMA_LICENCE.read_text()
    assert "manifestVersion" in json.loads(SCHEMA.read_text())["required"]


def test_the_manifest_matches_microsofts_schema() -> None:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft4Validator.check_schema(schema)
    errors = sorted(jsonschema.Draft4Validator(schema).iter_errors(make()), key=str)
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]


def test_the_manifest_declares_the_bot_where_baton_works() -> None:
    app = make()
    (bot,) = app["bots"]
    assert bot["botId"] == app["id"] == APP_ID
    assert bot["scopes"] == ["team", "personal"]  # the sales channel, and 1:1 messages
    (commands,) = bot["commandLists"]
    assert [c["title"] for c in commands["commands"]] == [title for title, _ in COMMANDS]
    # What Teams suggests after "@Baton" is what Baton answers (help answers everything else).
    assert {title for title, _ in COMMANDS} == {"help", *answered.COMMANDS}
    assert app["validDomains"] == ["baton.example.com"]
    assert app["authorization"]["permissions"]["resourceSpecific"] == [
        {"name": "ChannelMessage.Read.Group", "type": "Application"}
    ]
    assert app["webApplicationInfo"]["id"] == APP_ID
    assert app["version"] == "0.1.0"


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"app_id": "A0BATON"}, "not an Entra application id"),
        ({"domain": "https://baton.example.com/api/messages"}, "not a host name"),
        ({"domain": "*.example.com"}, "not a host name"),
        ({"privacy": "http://nordlys.example/privacy"}, "privacy URL must start with https://"),
    ],
)
def test_a_wrong_setting_is_named(changes: dict[str, str], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        make(**changes)


def test_the_package_holds_the_manifest_and_both_icons_at_its_root() -> None:
    app = make()
    with zipfile.ZipFile(io.BytesIO(package(app))) as archive:
        assert sorted(archive.namelist()) == ["color.png", "manifest.json", "outline.png"]
        assert json.loads(archive.read("manifest.json")) == app
        assert archive.read("color.png") == color_icon()
        assert archive.read("outline.png") == outline_icon()


def test_the_colour_icon_is_192_square_and_opaque() -> None:
    width, height, found = pixels(color_icon())
    assert (width, height) == (192, 192)
    assert all(alpha == 255 for *_, alpha in found)
    assert len(set(found)) == 2  # the accent and the white baton


def test_the_outline_icon_is_32_square_white_on_transparent() -> None:
    width, height, found = pixels(outline_icon())
    assert (width, height) == (32, 32)
    assert set(found) == {(255, 255, 255, 255), (0, 0, 0, 0)}
