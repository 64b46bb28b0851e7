"""Structured logs: JSON lines with the request and lead ids, plain lines at a terminal."""

from __future__ import annotations

import io
import json
import logging
import re
import socket
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from bot.service import logs
from bot.service.cli import cli
from bot.service.web import create_app
from tests.support import AGREEMENT, GOOD_LEAD, INTAKE_TOKEN


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """The process's log output while the test runs, restored afterwards."""
    written = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = logs.setup(level=logging.DEBUG, stream=written, json_lines=True)
    yield written
    root.removeHandler(handler)
    root.setLevel(level)


def lines(written: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in written.getvalue().splitlines()]


def test_a_record_is_one_json_line(stream):
    logging.getLogger("bot.delivery").warning("card for %s not delivered:\n%s", "x", "timeout")
    (entry,) = lines(stream)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["time"])
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "bot.delivery"
    assert entry["message"] == "card for x not delivered:\ntimeout"
    assert "request_id" not in entry and "lead_id" not in entry


def test_the_lead_and_request_ids_come_from_extra_or_the_context(stream):
    log = logging.getLogger("bot.privacy")
    log.info("by extra", extra={"lead_id": "L1", "attempt": 3, "rows": [7, 8]})
    with logs.bound(request_id="R1", lead_id="L2"):
        log.info("by context")
        log.info("extra wins", extra={"lead_id": "L3"})
    log.info("after")

    by_extra, by_context, extra_wins, after = lines(stream)
    assert (by_extra["lead_id"], by_extra["attempt"], by_extra["rows"]) == ("L1", 3, [7, 8])
    assert (by_context["request_id"], by_context["lead_id"]) == ("R1", "L2")
    assert (extra_wins["request_id"], extra_wins["lead_id"]) == ("R1", "L3")
    assert "request_id" not in after and "lead_id" not in after


def test_an_exception_is_part_of_its_line(stream):
    try:
        raise ValueError("bad row")
    except ValueError:
        logging.getLogger("bot.delivery").exception("outbox: row 7 failed")
    (entry,) = lines(stream)
    assert entry["level"] == "ERROR"
    assert "Traceback" in entry["exception"] and "ValueError: bad row" in entry["exception"]


def test_a_terminal_gets_plain_lines():
    screen = Terminal()
    handler = logs.setup(level=logging.INFO, stream=screen)
    try:
        with logs.bound(request_id="R1"):
            logging.getLogger("bot.service.web").info("listening")
    finally:
        logging.getLogger().removeHandler(handler)
    line = screen.getvalue().strip()
    assert isinstance(handler.formatter, logs.HumanFormatter)
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d INFO bot\.service\.web listening  request_id=R1", line
    )


def test_a_pipe_gets_json_lines():
    handler = logs.setup(stream=io.StringIO())
    logging.getLogger().removeHandler(handler)
    assert isinstance(handler.formatter, logs.JsonFormatter)


def test_setting_up_again_replaces_only_its_own_handler():
    root = logging.getLogger()
    other = logging.NullHandler()
    root.addHandler(other)
    try:
        first = logs.setup(stream=io.StringIO())
        second = logs.setup(stream=io.StringIO())
        assert second in root.handlers and first not in root.handlers
        assert other in root.handlers
    finally:
        root.removeHandler(other)
        root.removeHandler(second)


# the request id ------------------------------------------------------------------------------


@pytest.fixture
def client(runtime) -> Iterator[TestClient]:
    api = create_app(runtime)

    @api.get("/probe")
    def probe() -> dict[str, str]:
        """A sync endpoint, so it runs in the thread pool like the intake does."""
        logging.getLogger("tests.probe").info("inside the endpoint")
        return {"ok": "yes"}

    @api.get("/broken")
    def broken() -> None:
        raise RuntimeError("a bug")

    with TestClient(api, raise_server_exceptions=False) as running:
        yield running


def test_every_answer_has_a_request_id_and_its_log_lines_too(client, stream):
    answer = client.get("/probe")
    request_id = answer.headers["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)

    inside = [e for e in lines(stream) if e["logger"] == "tests.probe"]
    access = [e for e in lines(stream) if e["logger"] == "baton.http"]
    assert [e["request_id"] for e in inside] == [request_id]
    (line,) = [e for e in access if e["request_id"] == request_id]
    assert line["message"] == "GET /probe 200"
    assert (line["method"], line["path"], line["status"]) == ("GET", "/probe", 200)
    assert line["duration_ms"] >= 0
    assert client.get("/probe").headers["X-Request-Id"] != request_id


def test_the_intake_and_refusals_get_ids_too(client, stream):
    created = client.post(
        "/api/leads", json=GOOD_LEAD, headers={"Authorization": f"Bearer {INTAKE_TOKEN}"}
    )
    refused = client.post("/api/leads", content=b"x" * 1_000_001)
    unsigned = client.post("/slack/events", content=b"payload=%7B%7D")
    for answer, status in ((created, 201), (refused, 413), (unsigned, 401)):
        assert answer.status_code == status
        assert answer.headers["X-Request-Id"]
    statuses = {e["request_id"]: e["status"] for e in lines(stream) if e["logger"] == "baton.http"}
    assert statuses[refused.headers["X-Request-Id"]] == 413


@pytest.mark.parametrize(
    "given, kept",
    [
        ("lb-7f3a9c", True),
        ("0af7651916cd43dd8448eb211c80319c", True),
        ("x" * 65, False),
        ("two words", False),
        ('"},{"level":"ERROR', False),
    ],
)
def test_a_callers_request_id_is_kept_when_it_looks_like_one(client, given, kept):
    answer = client.get("/probe", headers={"X-Request-Id": given})
    assert (answer.headers["X-Request-Id"] == given) is kept


def test_a_crash_answers_500_with_the_id_and_logs_the_traceback(client, stream):
    answer = client.get("/broken")
    assert answer.status_code == 500
    request_id = answer.headers["X-Request-Id"]
    assert answer.json() == {"detail": "internal error", "request_id": request_id}
    assert "Traceback" not in answer.text and "a bug" not in answer.text
    (failure,) = [e for e in lines(stream) if e["message"] == "GET /broken failed"]
    assert failure["request_id"] == request_id
    assert "RuntimeError: a bug" in failure["exception"]


# baton run -----------------------------------------------------------------------------------


def test_baton_run_logs_json_lines_without_secrets(tmp_path, monkeypatch):
    """`baton run` installs the JSON handler (stderr is no terminal here) with the settings'
    secrets to mask, and keeps uvicorn from replacing it."""
    import bot.service.runtime
    import bot.service.server
    import bot.service.web

    agreement = tmp_path / "agreement.yml"
    agreement.write_text(AGREEMENT, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    started: dict[str, Any] = {}
    fake = SimpleNamespace(
        start=lambda: None,
        engine=SimpleNamespace(url="sqlite://"),
        scheduler=SimpleNamespace(next_deadline=lambda: None),
    )
    monkeypatch.setattr(bot.service.runtime, "build", lambda settings, agreement: fake)
    monkeypatch.setattr(bot.service.web, "create_app", lambda runtime: "the app")

    def serve(server: bot.service.server.Server, sockets: list[socket.socket]) -> None:
        started.update(config=server.config, ports=[sock.getsockname()[1] for sock in sockets])
        for sock in sockets:
            sock.close()

    monkeypatch.setattr(bot.service.server.Server, "run", serve)
    port = free_port()
    root = logging.getLogger()
    level, before = root.level, list(root.handlers)
    env = {
        "SLACK_BOT_TOKEN": "xoxb-run-secret",
        "SLACK_SIGNING_SECRET": "run-signing-secret",
        "SLACK_APP_TOKEN": "",
        "BATON_INTAKE_TOKEN": "run-intake-token",
        "BATON_AGREEMENT": str(agreement),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'b.db'}",
    }
    try:
        answer = CliRunner().invoke(cli, ["run", "--port", str(port)], env=env)
        (handler,) = [h for h in root.handlers if h.get_name() == "baton"]
    finally:
        for handler in [h for h in root.handlers if h not in before]:
            root.removeHandler(handler)
        root.setLevel(level)
    assert answer.exit_code == 0, answer.output
    config = started["config"]
    assert config.app == "the app"
    assert (config.log_config, config.access_log) == (None, False)
    assert started["ports"] == [port]
    assert isinstance(handler.formatter, logs.JsonFormatter)
    redact = handler.formatter.redact
    assert redact("a run-signing-secret b run-intake-token") == f"a {logs.MASK} b {logs.MASK}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
