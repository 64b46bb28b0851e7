"""`baton`: run the bot, check the setup, import leads, show the scorecard and a lead's history,
forget a person, write the Teams app package.

One module a command (`run`, `demo`, `check`, `import_csv`, `report`, `history`, `forget`,
`dead_letters`, `teams_package`);
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
    teams_package,
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
cli.command(name="teams-package")(teams_package.teams_package)
outbox_cli.command("retry")(dead_letters.outbox_retry)


def main() -> None:
    cli()
