"""`baton outbox retry`: queue again the messages given up on."""

from bot.clock import utcnow
from bot.service.cli.common import (
    open_context,
    out,
    read_agreement,
    read_settings,
)
from storage import outbox
from storage.db import transaction


def outbox_retry() -> None:
    """Queue again every Slack message that was given up on."""
    settings = read_settings(slack=False)
    ctx = open_context(settings, read_agreement(settings))
    with transaction(ctx.sessions) as session:
        count = outbox.retry_dead(session=session, now=utcnow())
    out.print(f"{count} message(s) queued again; a running `baton run` delivers them.")
