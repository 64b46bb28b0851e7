"""BENCHMARKS.md after a run of some benchmarks: their sections measured anew, what was
written by hand into them kept."""

from __future__ import annotations

from pathlib import Path

from bench.common import POSTGRES, Results
from bench.report import SECTIONS, Machine, write

TITLE = SECTIONS["teams"][0]

BY_HAND = """\
### Before and after a change

Measured on this machine, the code before and after interleaved:

| | Before | After |
| --- | --- | --- |
| p99 | 150 ms | 120 ms |

### The round before

Fewer statements a click.
"""


def section(text: str, title: str) -> str:
    start = text.index(f"## {title}")
    return text[start : text.index("\n## ", start)]


def run(path: Path, results: Results, *, command: str, started: str) -> str:
    """BENCHMARKS.md after a run by `command` (a run of `--only` replaces what it ran)."""
    write(
        path,
        results,
        machine(),
        command=command,
        started=started,
        minutes=1.0,
        names=list(SECTIONS),
        partial="--only" in command,
    )
    return path.read_text()


def machine() -> Machine:
    return Machine(
        cores=2,
        cpu="Test CPU",
        memory="1 GiB",
        python="3.11",
        system="Linux",
        sqlite="3.40",
        postgres="15",
        load_before="0.1, 0.1, 0.1",
        speed=50,
        load_after="0.2, 0.2, 0.2",
    )


def previous(tmp_path: Path) -> Path:
    path = tmp_path / "BENCHMARKS.md"
    path.write_text(
        "# Benchmarks\n\n## This run\n\n- Machine: 2 cores, Test CPU, 1 GiB RAM, Linux\n\n"
        f"## {TITLE}\n\nWhat it measures.\n\n{BY_HAND}\n"
        "Measured on 2026-11-29 10:00 UTC by `python -m bench --only teams` (1.0 minutes), "
        "on the machine of the run above.\n\n"
        "| Figure | Backend | Median | p99 | Samples | Target |\n"
        "| --- | --- | ---: | ---: | ---: | --- |\n"
        "| Old figure | PostgreSQL | 9 ms | 99 ms | 10 | — |\n\n"
        "## Query plans on the largest database\n\nPlans.\n"
    )
    return path


def test_a_run_keeps_the_subsections_written_by_hand_and_replaces_its_figures(tmp_path):
    path = previous(tmp_path)
    results = Results(ran=["teams"])
    results.add("teams", "New figure", POSTGRES, "ms", [1.0, 2.0, 3.0])
    text = run(
        path, results, command="python -m bench --only teams", started="2026-11-30 02:30 UTC"
    )
    teams = section(text, TITLE)
    assert BY_HAND in teams
    assert "Measured on 2026-11-30 02:30 UTC by `python -m bench --only teams`" in teams
    assert teams.index(BY_HAND) < teams.index("Measured on 2026-11-30")
    assert "New figure" in teams
    assert "Old figure" not in text
    assert "2026-11-29 10:00" not in text
    assert text.endswith("## Query plans on the largest database\n\nPlans.\n")


def test_a_full_run_keeps_them_too_and_a_later_run_still_finds_them(tmp_path):
    path = previous(tmp_path)
    for started in ("2026-11-30 03:00 UTC", "2026-11-30 04:00 UTC"):
        results = Results(ran=list(SECTIONS))
        results.add("teams", "New figure", POSTGRES, "ms", [1.0, 2.0, 3.0])
        text = run(path, results, command="python -m bench", started=started)
        teams = text[text.index(f"## {TITLE}") :]
        assert teams.count(BY_HAND) == 1
        assert f"Measured on {started} by `python -m bench`, the run above." in teams
        assert "Old figure" not in text


def test_a_figure_another_benchmark_adds_to_a_section_leaves_that_section_as_it_was(tmp_path):
    """`memory` measures hand-overs into its large database for the section of `teams` here:
    replacing that section would lose the figures of the benchmark that did not run."""
    path = previous(tmp_path)
    before = path.read_text()
    results = Results(ran=["memory"])
    results.add("memory", "RSS", POSTGRES, "MB", [100.0])
    results.add("teams", "A figure on the side", POSTGRES, "/s", [900.0])
    text = run(
        path, results, command="python -m bench --only memory", started="2026-11-30 03:50 UTC"
    )
    assert section(text, TITLE) == section(before, TITLE)
    assert "A figure on the side" not in text
    assert "| RSS | PostgreSQL |" in text


def test_a_full_run_that_measured_nothing_of_a_section_keeps_what_was_written_into_it(tmp_path):
    path = previous(tmp_path)
    for started in ("2026-11-30 03:00 UTC", "2026-11-30 04:00 UTC"):
        failed = Results(ran=list(SECTIONS), failures=["teams: the stand-in did not start"])
        text = run(path, failed, command="python -m bench", started=started)
        teams = text[text.index(f"## {TITLE}") :]
        assert teams.count(BY_HAND) == 1
        assert f"Measured on {started} by `python -m bench`, the run above: it gave no" in teams
