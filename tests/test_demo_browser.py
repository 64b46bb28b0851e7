"""`baton demo` in a real browser: Debian's Chromium, driven by Playwright.

The demo is started as a visitor starts it (`baton demo --no-browser`), and the test does
what a visitor does: hands over leads (one with a mistake first), switches to a seller,
claims, gives feedback, reads the thread and the marketing channel, and waits for the
sped-up clock to escalate an unclaimed lead to the sales manager. Screenshots of each step
go to `tests/screenshots/` (ignored by git); with `BATON_README_SCREENSHOT=1` the one of
the claimed lead and its thread is also written to `docs/demo.png` for the README.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(
        "Debian's Chromium is not installed (apt-get install chromium); the demo's browser "
        "test needs it and never downloads a browser",
        allow_module_level=True,
    )

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "tests" / "screenshots"
SPEED = 300  # an hour of business time in 12 s: the claim deadline passes while the test runs
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def demo_url() -> Iterator[str]:
    port, speed = str(_free_port()), str(SPEED)
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "demo", "--no-browser", "--port", port, "--speed", speed],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    try:
        found = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert found, f"baton demo printed {line!r}, then {process.stdout.read()!r}"
        yield found.group(0)
    finally:
        process.send_signal(2)  # Ctrl-C
        output, _ = process.communicate(timeout=30)
        assert "Baton demo stopped." in output


@pytest.fixture
def page(demo_url: str) -> Iterator[Page]:
    SHOTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox"]
        )
        page = browser.new_page(viewport={"width": 1200, "height": 720})
        page.goto(demo_url)
        try:
            yield page
        finally:
            page.screenshot(path=SHOTS / "last.png")
            browser.close()


def _hand_over(page: Page, **fields: str) -> None:
    page.click("#handover-open")
    for name, value in fields.items():
        page.fill(f"#handover-form [name={name}]", value)
    page.click("#handover-form button[type=submit]")


def _card(page: Page, name: str):
    return page.locator("#messages .message").filter(has_text=f"{name} ·")


def test_a_lead_from_hand_over_to_feedback_and_escalation(page: Page) -> None:
    expect.set_options(timeout=20_000)  # a shared machine may be slow; nothing is timed here
    page.set_default_timeout(20_000)
    # A mistake in the form gets the API's own answer, field by field.
    _hand_over(page, employees="many", email="mette-at-nordlys")
    result = page.locator("#handover-result")
    expect(result).to_contain_text("422")
    expect(page.locator("#handover-form")).to_contain_text("employees: Input should be")
    expect(page.locator("#handover-form")).to_contain_text("email: Value error")
    page.screenshot(path=SHOTS / "1-form-errors.png")

    page.fill("#handover-form [name=employees]", "240")
    page.fill("#handover-form [name=email]", "mette@nordlys.dk")
    page.click("#handover-form button[type=submit]")
    expect(result).to_contain_text("201: qualified")
    page.fill("#handover-form [name=name]", "Jonas Lund")
    page.fill("#handover-form [name=email]", "jonas@fjordkraft.no")
    page.fill("#handover-form [name=company]", "Fjordkraft Industri AS")
    page.fill("#handover-form [name=country]", "NO")
    page.click("#handover-form button[type=submit]")
    expect(result).to_contain_text("201: qualified")
    page.click("#handover-cancel")

    # A seller claims the first lead: the card changes in place.
    page.select_option("#persona", "U0SELLER1")
    card = _card(page, "Mette Hansen")
    expect(card).to_contain_text("Unclaimed")
    card.get_by_role("button", name="Claim").click()
    expect(card).to_contain_text("Owner @Sofie Madsen")
    page.screenshot(path=SHOTS / "2-claimed.png")

    # Feedback: a modal, then a reply in the card's thread and a post in #marketing.
    card.get_by_role("button", name="Give feedback").click()
    modal = page.locator("#modal .dialog")
    expect(modal).to_contain_text("Give feedback")
    modal.get_by_label("Rejected").check()
    modal.locator("select").first.select_option("wrong decision-maker")
    modal.locator("textarea").fill("The CIO sent us to their IT manager.")
    modal.get_by_role("button", name="Send").click()
    expect(page.locator("#modal")).to_be_hidden()
    card.get_by_role("button", name="1 reply").click()
    thread = page.locator("#thread")
    expect(thread).to_contain_text("Rejected by @Sofie Madsen")
    expect(thread).to_contain_text("wrong decision-maker")
    page.screenshot(path=SHOTS / "3-thread.png")
    if os.environ.get("BATON_README_SCREENSHOT"):
        page.screenshot(path=ROOT / "docs" / "demo.png")
    page.click("#channels >> text=# marketing")
    expect(page.locator("#messages")).to_contain_text("Mette Hansen")
    expect(page.locator("#messages")).to_contain_text("wrong decision-maker")

    # Nobody claims the second lead: the sped-up clock escalates it to the sales manager.
    page.select_option("#persona", "U0MANAGER")
    page.click("#nav-dm")
    expect(page.locator("#messages")).to_contain_text("Jonas Lund", timeout=90_000)
    page.screenshot(path=SHOTS / "4-escalation.png")

    # The CEO asks for this week's scorecard; only the CEO sees the answer.
    page.select_option("#persona", "U0CEO")
    page.click("#channels >> text=# sales")
    page.fill("#composer", "/baton stats")
    page.press("#composer", "Enter")
    answer = page.locator("#messages .message.ephemeral")
    expect(answer).to_contain_text("This week")
    expect(answer).to_contain_text("Only visible to you")
    page.screenshot(path=SHOTS / "5-stats.png")
