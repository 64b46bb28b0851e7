"""CRM connectors: HubSpot and Pipedrive webhooks turned into hand-overs, and a lead's
claim, contact and feedback written back to the CRM object it came from.

Inbound (`hubspot_in`, `pipedrive_in`): verify the request, parse the payload, read what it
only names, map the properties to the intake's fields (`mapping`, by the agreement's
`crm:` section, `bot.crm_section`). Outbound (`writeback`): one `Change` at a time through each
CRM's client (`hubspot`, `pipedrive`, over `http`), its failures sorted for the outbox
(`errors`). See README.md beside this file for why plain HTTP and not the vendors' SDKs.
"""
