"""`baton demo`: the whole agreement running offline, for anyone without a Slack workspace.

`run` starts the real Baton (`baton`, on a sped-up `clock`) against the Slack stand-in
(`slack_standin`, with `block_rules`, which the tests use too) and serves `page`, which shows
what Baton posted and sends what a person did as Slack would (`payloads`). `samples` are the
leads its button hands over.
"""
