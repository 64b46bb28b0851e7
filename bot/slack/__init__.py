"""The Slack adapter: Bolt app, client, transport, Block Kit rendering and templates, ids.

The one package that imports slack_sdk or slack_bolt (with the listeners in handlers/)."""
