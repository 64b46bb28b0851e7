"""Prometheus counters, on a registry of Baton's own so tests and replicas read only Baton's."""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

LEADS_RECEIVED = Counter(
    "baton_leads_received", "Leads handed over", ["qualified"], registry=REGISTRY
)
LEADS_POSTED = Counter(
    "baton_leads_posted", "Lead cards posted to the sales channel", registry=REGISTRY
)
LEADS_CLAIMED = Counter("baton_leads_claimed", "Leads claimed or assigned", registry=REGISTRY)
SLACK_ERRORS = Counter(
    "baton_slack_api_errors",
    "Slack Web API calls that failed",
    ["method", "error"],
    registry=REGISTRY,
)
OUTBOX_DEAD = Gauge(
    "baton_outbox_dead",
    "Messages and CRM write-backs given up on (see baton outbox retry)",
    registry=REGISTRY,
)
DELIVERY_LAG = Histogram(
    "baton_delivery_lag_seconds",
    "From queueing a Slack message to Slack accepting it",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
    registry=REGISTRY,
)
CARD_DELAY = Histogram(
    "baton_card_delay_seconds",
    "From a lead's hand-over to its card in the sales channel, when its claim and contact "
    "clocks start (the wait for Slack's pace, or for Slack to come back)",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600),
    registry=REGISTRY,
)
REMINDERS = Counter(
    "baton_reminders", "Reminders sent before a deadline", ["kind"], registry=REGISTRY
)
ESCALATIONS = Counter(
    "baton_escalations", "Escalation DMs after a deadline passed", ["notify"], registry=REGISTRY
)
BREACHES = Counter("baton_breaches", "Deadlines that passed unmet", ["kind"], registry=REGISTRY)
CLOCK_LAG = Histogram(
    "baton_clock_lag_seconds",
    "From a reminder's or escalation's due time to Slack accepting it",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
    registry=REGISTRY,
)
SWEEPS = Counter(
    "baton_clock_sweeps", "Times the clock looked for due deadlines", registry=REGISTRY
)
OUTBOX_PENDING = Gauge(
    "baton_outbox_pending",
    "Slack messages queued and not yet delivered (waiting their turn, a retry, or being sent)",
    registry=REGISTRY,
)
OUTBOX_FOUND = Counter(
    "baton_outbox_found_in_slack",
    "Retried Slack messages found already posted (an earlier attempt's answer was lost), "
    "recorded instead of posted again",
    registry=REGISTRY,
)
OUTBOX_HELD = Counter(
    "baton_outbox_held",
    "Times a Slack message was held back: pace (the channel's one a second), method_held "
    "(after a 429 or an outage of that method), lease (too little lease left to send safely)",
    ["reason"],
    registry=REGISTRY,
)
