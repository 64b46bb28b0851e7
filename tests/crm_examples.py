"""One realistic example of each webhook Baton takes, from the CRMs' documented payloads."""

# A contact-based workflow's "Send a webhook" with the whole contact record, as HubSpot
# documents it: each property with its value and versions, and the form submissions.
WORKFLOW = {
    "vid": 81723,
    "canonical-vid": 81723,
    "merged-vids": [],
    "portal-id": 62515,
    "is-contact": True,
    "properties": {
        "firstname": {"value": "Mette", "versions": [{"value": "Mette", "source-type": "FORM"}]},
        "lastname": {"value": "Hansen", "versions": []},
        "email": {"value": "mette@nordlys.dk", "versions": []},
        "company": {"value": "Nordlys Maskinfabrik A/S", "versions": []},
        "jobtitle": {"value": "CIO", "versions": []},
        "phone": {"value": "+45 32 12 34 56", "versions": []},
        "country": {"value": "Denmark", "versions": []},
        "industry": {"value": "manufacturing", "versions": []},
        "numemployees": {"value": "100-500", "versions": []},
        "annualrevenue": {"value": "48000000", "versions": []},
        "hs_analytics_source": {"value": "PAID_SOCIAL", "versions": []},
        "recent_conversion_event_name": {"value": "Webinar: Industry 4.0", "versions": []},
        "recent_conversion_date": {"value": "1763632800000", "versions": []},
    },
    "form-submissions": [
        {
            "conversion-id": "5f1c0e8a-13c4-4b8e-9d4d-2b7e0f7c9e11",
            "timestamp": 1763890000000,
            "form-id": "a2c0ff1e-2b3c-4d5e-8f90-123456789abc",
            "portal-id": 62515,
            "page-url": "https://nordlys.example/qc",
            "page-title": "QC checklist",
            "title": "Download: QC checklist",
            "form-type": "HUBSPOT",
        }
    ],
    "identity-profiles": [
        {"vid": 81723, "identities": [{"type": "EMAIL", "value": "mette@nordlys.dk"}]}
    ],
}

# A person added in Pipedrive, as webhooks v2 sends it.
PERSON_ADDED = {
    "meta": {
        "action": "create",
        "entity": "person",
        "company_id": "12882925",
        "correlation_id": "2a0b7d7c-6f7e-4c1a-9f9e-0d6f3c9e5b21",
        "entity_id": "45",
        "id": "8e0f3c55-2b1a-4e5f-9c7d-1a2b3c4d5e6f",
        "is_bulk_edit": False,
        "timestamp": "2026-11-24T09:12:44.021Z",
        "type": "general",
        "user_id": "18487521",
        "version": "2.0",
        "webhook_id": "99",
        "webhook_owner_id": "18487521",
        "change_source": "app",
        "attempt": 1,
        "host": "berg.pipedrive.com",
        "permitted_user_ids": ["18487521"],
    },
    "data": {
        "id": 45,
        "name": "Sven Berg",
        "first_name": "Sven",
        "last_name": "Berg",
        "emails": [{"label": "work", "value": "sven@berg.se", "primary": True}],
        "phones": [{"label": "mobile", "value": "+46 70 123 45 67", "primary": True}],
        "job_title": "Group CIO",
        "owner_id": 18487521,
        "org_id": 2,
        "label_ids": [],
        "add_time": "2026-11-24T09:12:43Z",
        "update_time": "2026-11-24T09:12:43Z",
        "visible_to": 3,
        "custom_fields": {"9b1e2f": {"type": "varchar", "value": "100-200k SEK"}},
    },
    "previous": None,
}

DEAL_WON = {
    "meta": {**PERSON_ADDED["meta"], "action": "change", "entity": "deal", "entity_id": "31"},
    "data": {
        "id": 31,
        "title": "Berg AB deal",
        "value": 240000,
        "currency": "SEK",
        "status": "won",
        "stage_id": 4,
        "pipeline_id": 1,
        "person_id": 45,
        "org_id": 2,
        "won_time": "2026-12-02T14:00:00Z",
    },
    "previous": {"status": "open", "won_time": None},
}
