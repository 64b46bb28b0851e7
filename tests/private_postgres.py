"""A PostgreSQL server of a test's own, to stop and start without disturbing anyone else.

A test of what Baton does while its database is away has to stop the server. Stopping the
shared one would break every test running beside it (`pytest -n`) and any other process on
the machine; a throwaway cluster in a temporary folder, on a free port, breaks nothing.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def _binaries() -> Path | None:
    """The newest installed PostgreSQL's programs (initdb, pg_ctl), if any."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def available() -> bool:
    return _binaries() is not None


class PrivatePostgres:
    """`initdb` into a new temporary folder, then `start()` / `stop()` at will, `remove()` at
    the end; trust auth on 127.0.0.1.

    PostgreSQL refuses to run as root, so as root its programs run as the `postgres` user,
    which owns the folder (made straight under the temporary directory: pytest's own folders
    are closed to other users).
    """

    def __init__(self) -> None:
        binaries = _binaries()
        if binaries is None:
            raise RuntimeError("PostgreSQL's initdb is not installed")
        self.bin = binaries
        self.folder = Path(tempfile.mkdtemp(prefix="baton-postgres-"))
        folder = self.folder
        self.data = folder / "data"
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._as: list[str] = []
        if os.geteuid() == 0:
            self._as = ["runuser", "-u", "postgres", "--"]
            account = pwd.getpwnam("postgres")
            os.chown(folder, account.pw_uid, account.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, program: str, *args: str) -> None:
        subprocess.run(
            [*self._as, str(self.bin / program), *args],
            check=True,
            timeout=120,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data}"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-w", "-t", "60", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")

    def remove(self) -> None:
        """Stop the server if it runs, and delete its files."""
        subprocess.run(
            [*self._as, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"],
            check=False,
            timeout=60,
            capture_output=True,
        )
        shutil.rmtree(self.folder, ignore_errors=True)
