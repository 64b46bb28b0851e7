"""Charts drawn as PNG images from the domain's chart data (`bot.scorecard_chart`).

An adapter beside Slack's and Teams': drawing is rendering, like a Block Kit template, and the
image is the same on every platform, so neither chat adapter owns it and the domain never
imports matplotlib.
"""
