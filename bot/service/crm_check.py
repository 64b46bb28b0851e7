"""What `baton check` asks of the CRMs: whether each token set works, one line a CRM, so a
refused token shows before HubSpot or Pipedrive sends its first webhook."""

from bot.crm.errors import CrmError, Permanent
from bot.crm.hubspot import HubSpot
from bot.crm.pipedrive import Pipedrive
from bot.findings import Findings
from bot.service.settings import Settings


def crms(settings: Settings) -> Findings:
    """A note for each CRM whose token works, a problem for each whose token does not."""
    found = Findings()
    if settings.hubspot_token:
        with HubSpot(settings.hubspot_token, settings.hubspot_api_url) as hubspot:
            try:
                hubspot.probe()
            except CrmError as error:
                found.problems.append(_refused("HUBSPOT_TOKEN", "HubSpot", error))
            else:
                found.notes.append("HubSpot: HUBSPOT_TOKEN works (contacts and owners readable).")
    elif settings.hubspot_client_secret:
        found.notes.append(
            "HubSpot: no HUBSPOT_TOKEN: workflow webhooks are taken, app webhook batches "
            "(which name contacts without their properties) are not."
        )
    if settings.pipedrive_api_token:
        with Pipedrive(settings.pipedrive_api_token, settings.pipedrive_api_url) as pipedrive:
            try:
                domain = pipedrive.probe()
            except CrmError as error:
                found.problems.append(_refused("PIPEDRIVE_API_TOKEN", "Pipedrive", error))
            else:
                found.notes.append(
                    f"Pipedrive: PIPEDRIVE_API_TOKEN works (company {domain or 'unnamed'})."
                )
    return found


def _refused(setting: str, crm: str, error: CrmError) -> str:
    if isinstance(error, Permanent):
        return f"{setting}: {crm} refused it ({error.message}); make a new token and set it"
    return f"{crm} cannot be reached to check {setting} ({error.message}); try again later"
