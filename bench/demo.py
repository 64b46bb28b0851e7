"""14. `baton demo`: from the command to its page answering, as a newcomer runs it.

Each run is the installed `baton demo --no-browser --port 0` in a process of its own, timed
from the moment it is started until `GET /` and `GET /demo/config` of the page it prints
answer 200 (Baton is serving by then: the page is printed only once it is). Then Ctrl-C, and
the time until every process of the demo has stopped.

The first run is as after a fresh install: pip compiled the libraries' bytecode when it
installed them, and Baton's own (an editable install) is compiled on this first start, so
the `__pycache__` folders of `bot/`, `handlers/` and `storage/` are removed before it. Warm
runs follow. From a fresh clone, the
README's commands (a virtual environment, `pip install -e .`, `baton demo`) are timed once,
with pip's cache as this machine has it.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench.common import ROOT, Results, Target

SECTION = "demo"
TARGET = Target("median", "<", 10, "< 10 s")
CLONE_TARGET = Target("median", "<", 60, "< 60 s")
_URL = re.compile(r"http://127\.0\.0\.1:\d+")


def _answers(url: str) -> bool:
    try:
        for path in ("/", "/demo/config"):
            with urllib.request.urlopen(url + path, timeout=2) as response:
                if response.status != 200:
                    return False
    except OSError:
        return False
    return True


def _cpu() -> float:
    """CPU seconds of every finished child process and theirs (the demo waits for Baton)."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def once(baton: list[str], env: dict[str, str], cwd: Path = ROOT) -> tuple[float, float, float]:
    """Seconds from the command to its page answering, from Ctrl-C to its end, and the CPU
    seconds all of it took (the demo and Baton, start to stop)."""
    cpu = _cpu()
    began = time.monotonic()
    process = subprocess.Popen(
        [*baton, "demo", "--no-browser", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=cwd,
    )
    assert process.stdout is not None
    try:
        line = process.stdout.readline()
        found = _URL.search(line)
        if not found:
            raise RuntimeError(f"baton demo printed {line!r}, then {process.stdout.read()!r}")
        while not _answers(found.group(0)):
            if time.monotonic() - began > 120:
                raise RuntimeError("the demo's page did not answer within 120 s")
            time.sleep(0.01)
        ready = time.monotonic() - began
    finally:
        stopping = time.monotonic()
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=60)
    return ready, time.monotonic() - stopping, _cpu() - cpu


def startup(results: Results, quick: bool) -> None:
    baton = [str(Path(sys.executable).parent / "baton")]
    for package in ("bot", "handlers", "storage"):
        for cache in (ROOT / package).rglob("__pycache__"):
            shutil.rmtree(cache, ignore_errors=True)
    cold, _, _ = once(baton, dict(os.environ))
    results.add(
        SECTION,
        "`baton demo` to its page answering, first start after install",
        None,
        "s",
        [cold],
        target=TARGET,
        tail=False,
    )
    warm = [once(baton, dict(os.environ)) for _ in range(3 if quick else 7)]
    results.add(
        SECTION,
        "`baton demo` to its page answering",
        None,
        "s",
        [ready for ready, _, _ in warm],
        target=TARGET,
    )
    results.add(
        SECTION,
        "CPU time of both processes from start to stop (what a busy machine does not change)",
        None,
        "s",
        [cpu for _, _, cpu in warm],
    )
    results.add(SECTION, "Ctrl-C to every process stopped", None, "s", [s for _, s, _ in warm])
    cores = os.cpu_count() or 1
    results.note(
        SECTION,
        f"the load average when the warm runs ended: {os.getloadavg()[0]:.1f} on {cores} cores; "
        f"the CPU time is what the start and stop cost whatever else the machine does",
    )
    if not quick:
        from_clone(results)


def from_clone(results: Results) -> None:
    """The README's commands in a fresh clone: a venv, `pip install -e .`, `baton demo`."""
    with tempfile.TemporaryDirectory(prefix="bench-clone-") as folder:
        clone = Path(folder) / "baton"
        began = time.monotonic()
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        subprocess.run([sys.executable, "-m", "venv", str(clone / ".venv")], check=True)
        python = clone / ".venv" / "bin" / "python"
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "-e", str(clone)], check=True, cwd=clone
        )
        installed = time.monotonic() - began
        env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
        ready, _, _ = once([str(clone / ".venv" / "bin" / "baton")], env, cwd=clone)
        shutil.rmtree(clone, ignore_errors=True)
    results.add(
        SECTION,
        "fresh clone: `pip install -e .` then `baton demo` to its page answering",
        None,
        "s",
        [installed + ready],
        target=CLONE_TARGET,
        tail=False,
    )
    results.note(
        SECTION,
        f"from a fresh clone: `git clone`, the venv and `pip install -e .` took {installed:.0f} s, "
        f"then `baton demo` {ready:.1f} s to its page",
    )
