"""The Microsoft Teams adapter: token checks, the Bot Connector client, Adaptive Cards."""
