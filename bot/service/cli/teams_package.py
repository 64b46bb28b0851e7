"""`baton teams-package`: the Teams app package to upload (manifest.json and the two icons,
zipped; `bot.teams.package`), for the Entra app `TEAMS_APP_ID` reached at `--domain`."""

from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer

from bot.service.cli.common import fail, out, read_settings, say
from bot.service.settings import HINTS
from bot.teams import package


def teams_package(
    out_file: Annotated[
        Path, typer.Option("--out", help="where to write the zip", dir_okay=False)
    ] = Path("baton-teams.zip"),
    domain: Annotated[
        str | None,
        typer.Option(
            help="the host Teams reaches POST /api/messages at (default: BATON_PUBLIC_URL's)"
        ),
    ] = None,
    developer: Annotated[str, typer.Option(help="the publisher's name Teams shows")] = "Baton",
    website: Annotated[
        str | None, typer.Option(help="the publisher's https:// page (default: https://DOMAIN)")
    ] = None,
    privacy: Annotated[
        str | None, typer.Option(help="the privacy statement's https:// URL (default: website)")
    ] = None,
    terms: Annotated[
        str | None, typer.Option(help="the terms of use' https:// URL (default: website)")
    ] = None,
) -> None:
    """Write the Teams app package (manifest.json and icons, zipped) to upload to Teams."""
    settings = read_settings(slack=False)
    if not settings.teams_app_id:
        raise fail(HINTS["teams_app_id"].removesuffix(" (platform: teams)"))
    host = domain or urlsplit(settings.baton_public_url or "").hostname
    if not host:
        raise fail(
            "give --domain: the host name Teams reaches POST /api/messages at (like "
            "baton.example.com), or set BATON_PUBLIC_URL"
        )
    website = website or f"https://{host}"
    try:
        manifest = package.manifest(
            app_id=settings.teams_app_id,
            domain=host,
            developer=developer,
            website=website,
            privacy=privacy or website,
            terms=terms or website,
        )
    except ValueError as error:
        raise fail(str(error)) from None
    try:
        out_file.write_bytes(package.package(manifest))
    except OSError as error:
        raise fail(f"cannot write {out_file}: {error.strerror or error}") from None
    say(
        out,
        f"Wrote {out_file}: the Teams app for {settings.teams_app_id} at "
        f"https://{host}/api/messages. Upload it in Teams: Apps → Manage your apps → Upload an "
        f"app (or the Teams admin center → Manage apps → Upload new app).",
    )
