"""The HTTP routes Baton serves besides Slack's: a module a route, each `mount(api, runtime)`."""
