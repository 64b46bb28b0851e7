"""The weekly chart in Slack: uploaded with `files_upload_v2`, shown by the message that needs it.

Exactly once. `chat.postMessage` has no idempotency key, and the outbox makes up for it by
stamping each message with its row and looking for it before a retry (`bot.slack.transport`).
An upload carries no such metadata, so an upload shared straight into a conversation could be
shared twice by a retry. It is therefore never shared: `files_upload_v2` without a channel
leaves the file private to Baton, and the message the row posts shows it in an image block
(`slack_file` by id), through the outbox's ordinary, stamped post. Between the two, the file
id is committed on the row (`storage.outbox.remember`) and the row waits `SETTLE` for Slack
to process the upload (a message showing a file still in processing is refused), so:

- a crash after the upload and before the id is recorded: the next attempt uploads again;
  the first file stays private to Baton, unseen by anyone (and nothing is posted twice);
- a crash after the id is recorded, before or after the post: the next attempt takes the
  recorded id and uploads nothing, and the post looks for the row's message in Slack first.

The three calls of `files_upload_v2` (files.getUploadURLExternal, the POST of the bytes,
files.completeUploadExternal) go through the outbox's gate as one, under `UPLOAD`: a 429 or a
failure of any of them holds and retries the upload as a whole.
"""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from slack_sdk import WebClient

from bot.charts.scorecard import png
from bot.context import Context
from bot.delivery.interface import Call, NotYet
from bot.scorecard_chart import Chart
from storage import outbox
from storage.db import transaction
from storage.models import Outbox

UPLOAD = "files_upload_v2"
"""The name the upload's calls are held, counted and logged under."""
FACT = "scorecard_chart"
"""The fact that asks for the chart: its data (`Chart.as_facts()`), panels and file name."""
FILE_ID = "chart_file"
"""Where the uploaded file's id is kept on the row, and the fact templates show it by."""
SETTLE = timedelta(seconds=3)
"""How long after its upload the message that shows a chart is posted."""
PENDING = "F0PENDING"
"""A file id to render the message with before the upload, to read the image's wording."""


class ChartUploads:
    """The transport's part for a row whose message shows a chart: upload it once, unshared."""

    def __init__(
        self, ctx: Context, client: WebClient, render: Callable[..., dict[str, Any]]
    ) -> None:
        self.ctx = ctx
        self.client = client
        self.render = render

    def facts(self, row: Outbox, facts: dict[str, Any], call: Call) -> dict[str, Any]:
        """The row's facts with the id of its chart's file, uploaded once if it needs one."""
        wanted = facts.get(FACT)
        if not wanted:
            return facts
        file_id = row.payload.get(FILE_ID)
        if not file_id:
            # The upload's title and alt text are the image block's, as the template words
            # them; a template reworded without the image shows no chart, and uploads none.
            shown = self.render(row.payload["template"], **{**facts, FILE_ID: PENDING})
            blocks = shown.get("blocks") or []
            image = next((b for b in blocks if b.get("type") == "image"), None)
            if image is None:
                return facts
            file_id = self._upload(row, image, wanted, call)
            with transaction(self.ctx.sessions) as session:
                outbox.remember(session=session, row_id=row.id, key=FILE_ID, value=file_id)
            # Slack processes an upload after answering (its file has no type yet), and a
            # message that shows it before then is refused as `invalid_blocks`; so the post
            # is the row's next attempt, a few seconds on.
            raise NotYet(self.ctx.clock() + SETTLE, "upload_processing")
        return {**facts, FILE_ID: file_id}

    def _upload(
        self, row: Outbox, image: dict[str, Any], wanted: dict[str, Any], call: Call
    ) -> str:
        """Upload the chart unshared, named as `image` names it; its file id."""
        content = png(Chart.from_facts(wanted["data"]), tuple(wanted["panels"]))
        response = call(
            row,
            UPLOAD,
            lambda: self.client.files_upload_v2(
                content=content,
                filename=wanted["filename"],
                title=image["title"]["text"],
                alt_txt=image["alt_text"],
            ),
        )
        return str(response["file"]["id"])
