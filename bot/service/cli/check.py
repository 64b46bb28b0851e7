"""`baton check`: the environment, the agreement, the database, Slack or Teams (the agreement's
`platform`) and the CRMs, before a start."""

import yaml

from bot.agreement_file import AgreementError, load_agreement
from bot.service import crm_check, database_check
from bot.service.addresses import ADDRESSES
from bot.service.cli.common import (
    err,
    fail,
    fail_all,
    out,
    say,
)
from bot.service.settings import SettingsError, check_settings
from bot.slack import channel_check
from bot.slack.client import SlackDirectory, channel_rate, make_client
from bot.teams import check as teams_check


def check() -> None:
    """Check the environment, the agreement, the database, Slack or Teams and the CRMs' tokens;
    print the agreement."""
    try:
        settings, problems = check_settings(slack=True)
    except SettingsError as error:
        raise fail_all(error.problems, "{count} problems found") from None
    try:
        channel_rate()
    except SettingsError as error:
        problems += error.problems
    agreement = None
    try:
        agreement = load_agreement(settings.baton_agreement, addresses=ADDRESSES)
    except AgreementError as error:
        problems.extend(error.problems)
    else:
        out.print(f"# the agreement in effect ({settings.baton_agreement})", highlight=False)
        dump = agreement.model_dump(mode="json", exclude_none=True)
        out.print(yaml.safe_dump(dump, sort_keys=False, allow_unicode=True), highlight=False)
        for clock in agreement.unreminded():
            say(
                out,
                f"note: sla.remind_before {agreement.sla.remind_before} is as long as "
                f"{clock}_within {getattr(agreement.sla, f'{clock}_within')}: the {clock} clock "
                f"sends no reminder.",
            )
    findings = (
        []
        if any(p.startswith("DATABASE_URL") for p in problems)
        else [database_check.database(settings.database_url)]
    )
    if agreement is not None and agreement.platform == "teams":
        if settings.teams_app_id and settings.teams_app_password:
            findings.append(teams_check.microsoft(settings))
        findings.append(
            teams_check.reach_in(settings.database_url, agreement, settings.baton_agreement)
        )
    elif agreement is not None and settings.slack_bot_token:
        client = make_client(token=settings.slack_bot_token, base_url=settings.slack_api_url)
        findings.append(channel_check.slack_channels(client, agreement, settings.baton_agreement))
        findings.append(
            channel_check.people(SlackDirectory(client), agreement, settings.baton_agreement)
        )
    findings.append(crm_check.crms(settings))
    for found in findings:
        for note in found.notes:
            say(out, note)
        problems += found.problems
    if problems:
        for problem in problems:
            say(err, problem)
        raise fail(f"{len(problems)} problem(s) found")
    out.print("All good.")
