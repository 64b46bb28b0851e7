"""What `baton check` looks at beyond the files: the database as `baton run` will find it, so
a mistake shows before start-up rather than as a card that never arrives (Slack's side:
`bot.slack.channel_check`).
"""

from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from bot.findings import Findings, one_line
from storage.db import make_engine, schema_state

MIGRATE = "`baton run` migrates it on start (by hand: alembic -c storage/alembic.ini upgrade head)"


def database(url: str) -> Findings:
    """Whether Baton can open the database, and whether its schema is current."""
    found = Findings()
    parsed = make_url(url)
    shown = parsed.render_as_string(hide_password=True)
    file = parsed.database if parsed.get_backend_name() == "sqlite" else None
    if file and file != ":memory:" and not Path(file).expanduser().exists():
        # Opening it would create it: a check changes nothing.
        found.notes.append(
            f"Database: {shown} does not exist yet; `baton run` creates it with its tables."
        )
        return found
    engine = make_engine(url)
    try:
        current, head, known = schema_state(engine)
    except SQLAlchemyError as error:
        found.problems.append(
            f"cannot open the database {shown}: {one_line(error)}; check DATABASE_URL and that "
            f"the database server runs"
        )
        return found
    finally:
        engine.dispose()
    if current == head:
        found.notes.append(f"Database: {shown}, schema current ({head}).")
    elif current is None:
        found.notes.append(f"Database: {shown} has no tables yet; {MIGRATE}.")
    elif known:
        found.notes.append(
            f"Database: {shown}, schema at {current}, Baton needs {head}; {MIGRATE}."
        )
    else:
        found.problems.append(
            f"the database {shown} has schema {current}, which this Baton does not know (a "
            f"newer Baton migrated it?): run that version, or point DATABASE_URL elsewhere"
        )
    return found
