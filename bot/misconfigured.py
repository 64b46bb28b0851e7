"""The error a wrong or missing setting raises, wherever it is found (the environment, the
Slack adapter's knobs, Slack refusing a token): one line per problem, saying what to set."""


class SettingsError(Exception):
    """Settings are missing or wrong; `problems` has one line for each, saying what to set."""

    def __init__(self, message: str | list[str]) -> None:
        self.problems = [message] if isinstance(message, str) else list(message)
        super().__init__("; ".join(self.problems))
