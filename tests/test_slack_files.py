"""The Slack stand-in's upload flow, driven by slack_sdk's own `files_upload_v2`."""

from urllib.error import HTTPError

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.demo.slack_standin import FakeSlack

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def client(slack: FakeSlack) -> WebClient:
    return WebClient(token="xoxb-test", base_url=slack.url)


def image(file_id: str) -> list[dict]:
    return [{"type": "image", "slack_file": {"id": file_id}, "alt_text": "the week in a chart"}]


def test_an_unshared_upload_takes_three_steps_and_shows_in_a_message(slack, client):
    uploaded = client.files_upload_v2(content=PNG, filename="week.png", title="The week")
    file_id = uploaded["file"]["id"]
    assert file_id.startswith("F")
    assert [c.method for c in slack.calls] == [
        "files.getUploadURLExternal",
        "upload_url",
        "files.completeUploadExternal",
    ]
    assert slack.calls[1].params == {"length": len(PNG)}
    assert uploaded["file"]["title"] == "The week"
    assert uploaded["file"]["shares"] == {}  # private to Baton until a message shows it
    assert slack.file_content(file_id) == (PNG, "image/png")

    posted = client.chat_postMessage(channel="U0CEO", text="The week", blocks=image(file_id))
    (message,) = slack.messages(posted["channel"])
    assert message["blocks"][0]["slack_file"] == {"id": file_id}


def test_a_shared_upload_is_a_message_with_the_file_in_the_channel(slack, client):
    uploaded = client.files_upload_v2(
        content=PNG, filename="week.png", title="The week", channel="C0MKTG", initial_comment="Hi"
    )
    file_id = uploaded["file"]["id"]
    (message,) = slack.messages("C0MKTG")
    assert message["files"] == [{"id": file_id, "name": "week.png", "title": "The week"}]
    assert message["text"] == "Hi"
    (listed,) = slack.files()
    assert listed["channels"] == ["C0MKTG"]
    assert list(listed["shares"]["public"]["C0MKTG"][0]) == ["ts"]


def test_slack_refuses_what_slack_refuses(slack, client):
    with pytest.raises(SlackApiError) as refused:
        client.files_upload_v2(content=PNG, filename="week.png", channel="X0NOWHERE")
    assert refused.value.response["error"] == "invalid_channel"

    with pytest.raises(SlackApiError) as refused:
        client.chat_postMessage(channel="C0MKTG", text="x", blocks=image("F0NOSUCHFILE"))
    assert refused.value.response["error"] == "invalid_blocks"

    with pytest.raises(SlackApiError) as refused:
        client.files_completeUploadExternal(files=[{"id": "F0NOSUCHFILE", "title": "x"}])
    assert refused.value.response["error"] == "file_not_found"

    with pytest.raises(SlackApiError) as refused:
        client.files_getUploadURLExternal(filename="empty.png", length=0)
    assert refused.value.response["error"] == "missing_argument"


def test_a_file_never_finished_cannot_be_shown(slack, client):
    started = client.files_getUploadURLExternal(filename="week.png", length=len(PNG))
    with pytest.raises(SlackApiError) as refused:
        client.chat_postMessage(channel="C0MKTG", text="x", blocks=image(started["file_id"]))
    assert refused.value.response["error"] == "invalid_blocks"


def test_rate_limits_and_failures_of_each_step(slack, client):
    slack.rate_limit("files.getUploadURLExternal", retry_after=7)
    with pytest.raises(SlackApiError) as limited:
        client.files_upload_v2(content=PNG, filename="week.png")
    assert limited.value.response.status_code == 429
    assert limited.value.response.headers["Retry-After"] in ("7", ["7"])

    slack.server_error("upload_url", status=503)
    with pytest.raises(HTTPError):
        client.files_upload_v2(content=PNG, filename="week.png")
    assert slack.files()[0]["size"] == 0  # the bytes never arrived

    assert client.files_upload_v2(content=PNG, filename="week.png")["file"]["size"] == len(PNG)
