"""`baton demo`: Baton without a Slack workspace, on a sped-up clock, in the browser."""

from typing import Annotated

import typer

from bot.service.cli.common import fail, out, say


def demo(
    port: Annotated[int, typer.Option(min=0, max=65535, help="the page's port")] = 3000,
    speed: Annotated[float, typer.Option(min=1, help="how many times faster the clock runs")] = 60,
    no_browser: Annotated[bool, typer.Option("--no-browser", help="only print the URL")] = False,
) -> None:
    """Try Baton without Slack: the real Baton, a Slack stand-in and a page to act in."""
    from bot.demo.run import DemoFailed
    from bot.demo.run import demo as start

    try:
        start(port=port, speed=speed, browser=not no_browser, say=lambda line: say(out, line))
    except DemoFailed as error:
        raise fail(str(error)) from None
