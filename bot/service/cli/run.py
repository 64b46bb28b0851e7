"""`baton run`: serve Slack or Teams and the intake API, keep the clocks, deliver messages."""

import logging
from typing import Annotated

import typer
from sqlalchemy.exc import SQLAlchemyError

from bot.agreement_file import AgreementError
from bot.service import logs
from bot.service.cli.common import (
    database_error,
    err,
    fail,
    fail_all,
    out,
    read_agreement,
    read_settings,
)
from bot.service.settings import SettingsError


def run(
    host: Annotated[str, typer.Option(help="address to listen on")] = "0.0.0.0",
    port: Annotated[int, typer.Option(min=1, max=65535, help="port to listen on, 1-65535")] = 3000,
) -> None:
    """Serve Slack or Teams and the intake API, keep the clocks, deliver messages."""
    import uvicorn

    from bot.service.runtime import build, settle
    from bot.service.server import CannotListen, Server, listening_socket
    from bot.service.web import create_app

    settings = read_settings(slack=True)
    logs.setup(
        level=logging.INFO,
        secrets=[
            settings.slack_bot_token,
            settings.slack_signing_secret,
            settings.slack_app_token,
            settings.baton_intake_token,
            settings.teams_app_password,
        ],
    )
    try:
        listening = listening_socket(host, port)
    except CannotListen as error:
        raise fail(str(error)) from None
    agreement = read_agreement(settings)
    try:
        runtime = build(settings, agreement)
    except SettingsError as error:
        raise fail_all(error.problems, "{count} settings to fix") from None
    try:
        runtime.start()
    except SQLAlchemyError as error:
        raise database_error(runtime.engine.url, error) from None
    except AgreementError as error:
        raise fail_all(error.problems, "{count} problems in the agreement") from None
    app = create_app(runtime)
    if settings.slack_app_token:
        from bot.slack.app import connect_socket_mode

        try:
            connect_socket_mode(runtime)
        except SettingsError as error:
            runtime.stop()
            raise fail(str(error)) from None
        out.print("Socket Mode connected.")
    if not settings.baton_intake_token:
        err.print("BATON_INTAKE_TOKEN is not set: POST /api/leads will refuse every request.")
    # Without a signing secret, Slack comes over Socket Mode only: nothing to verify HTTP with.
    chat = (
        "Teams: /api/messages"
        if agreement.platform == "teams"
        else f"Slack: {'/slack/events' if settings.slack_signing_secret else 'Socket Mode only'}"
    )

    def listens() -> None:
        out.print(f"Baton listens on http://{host}:{port} ({chat}, intake: /api/leads)")
        waiting = runtime.scheduler.next_deadline()
        if waiting is None or waiting.next_at is None:
            out.print("No deadlines pending.")
        else:
            out.print(
                f"Next deadline: the {waiting.kind} clock of lead {waiting.lead_id} needs "
                f"attention at {runtime.renderer.when(waiting.next_at)}."
            )

    settle()
    # uvicorn's own logging config would replace the JSON lines; the app logs each request,
    # and uvicorn's start-up lines say what "Baton listens" says.
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", log_config=None, access_log=False
    )
    Server(config, on_start=listens).run(sockets=[listening])
    out.print("Baton stopped.")
