"""`baton`: run the bot, check the setup, import leads, show the scorecard and a lead's history,
forget a person.

One module a command (`run`, `demo`, `check`, `import_csv`, `report`, `history`, `forget`,
`dead_letters`);
`common` holds what they share.
"""

import typer

from bot.service.cli import (
    check,
    dead_letters,
    demo,
    forget,
    history,
    import_csv,
    report,
    run,
)

cli = typer.Typer(
    name="baton",
    help="Baton keeps the agreement between Sales and Marketing about leads.",
    no_args_is_help=True,
    add_completion=False,
)
outbox_cli = typer.Typer(help="Look after Slack messages Baton could not deliver.")
cli.add_typer(outbox_cli, name="outbox")
cli.command()(run.run)
cli.command()(demo.demo)
cli.command()(check.check)
cli.command(name="import")(import_csv.import_csv)
cli.command()(report.report)
cli.command()(history.history)
cli.command()(forget.forget)
outbox_cli.command("retry")(dead_letters.outbox_retry)


def main() -> None:
    cli()
