"""Each chat platform's check of the ids the agreement names: the agreement's `platform`
picks the one that applies (`bot.agreement_file.parse_agreement`)."""

from bot.agreement import AddressCheck
from bot.slack.addresses import check_address as slack_address
from bot.teams.addresses import check_address as teams_address

ADDRESSES: dict[str, AddressCheck] = {"slack": slack_address, "teams": teams_address}
