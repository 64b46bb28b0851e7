"""The weekly scorecard's chart as a PNG, drawn with matplotlib's Agg backend.

Deterministic: a fixed size in pixels, no timestamps or software name in the PNG's metadata,
and matplotlib's own bundled font, so the same facts always give the same bytes (with one
version of matplotlib). The `Figure` API is used without pyplot: no global state, no GUI
backend, safe in the outbox worker's thread.
"""

import io

from bot.scorecard_chart import BINS, CONTACT, HANDOVERS, Chart

WIDTH_PX, HEIGHT_PX, DPI = 900, 360, 100
"""Every chart's size in pixels, whatever its panels."""
MARKETING, SALES, LINE = "#2a7ab0", "#3d9a5b", "#c0392b"


def png(chart: Chart, panels: tuple[str, ...]) -> bytes:
    """The chart's `panels` (`bot.scorecard_chart.PANELS`), side by side, as PNG bytes.

    matplotlib is imported here, by the first chart of a process: importing it costs a second
    or two of CPU, which every start of `baton run` and `baton demo` would pay otherwise."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    for ax, panel in zip(axes, panels, strict=True):
        if panel == HANDOVERS:
            _handovers(ax, chart)
        elif panel == CONTACT:
            _contact(ax, chart)
        else:
            raise ValueError(f"no chart panel called {panel!r}")
    figure.subplots_adjust(left=0.07, right=0.98, bottom=0.17, top=0.88, wspace=0.25)
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=DPI, metadata={"Software": None})
    return out.getvalue()


def _handovers(ax, chart: Chart) -> None:
    """Cumulative qualified hand-overs as steps at each day's end, the commitment as a line."""
    days = list(range(len(chart.cumulative) + 1))
    ax.step(days, [0, *chart.cumulative], where="post", color=MARKETING, label="qualified")
    if chart.committed is not None:
        ax.plot(
            range(chart.days + 1), chart.pro_rata, color=LINE, linestyle="--", label="commitment"
        )
    top = max([1, *chart.cumulative, chart.committed or 0])
    ax.set_xlim(0, chart.days)
    ax.set_ylim(0, top * 1.1)
    ax.yaxis.set_major_locator(_whole_numbers())
    if not any(chart.cumulative):
        _empty(ax, "no qualified hand-overs yet")
    ax.set_title(f"Qualified hand-overs, {chart.month}", fontsize=10)
    ax.set_xlabel("day of the month", fontsize=8)
    ax.tick_params(labelsize=8)
    ax.legend(fontsize=8, loc="upper left")


def _contact(ax, chart: Chart) -> None:
    """Leads by their wait to first contact, bins of business hours, the SLA as a line."""
    width = chart.bin_hours
    edges = [k * width for k in range(BINS + 1)]
    bars = [*chart.contacts[:BINS], chart.contacts[BINS]]
    lefts = [*edges[:BINS], BINS * width]
    colors = [SALES] * BINS + ["#999999"]
    ax.bar(lefts, bars, width=width, align="edge", color=colors, edgecolor="white")
    ax.axvline(chart.sla_hours, color=LINE, linestyle="--", label="SLA")
    ax.set_xlim(0, (BINS + 1) * width)
    ax.set_ylim(0, max([1, *bars]) * 1.1)
    ax.set_xticks([*edges[:BINS], (BINS + 0.5) * width])
    ax.set_xticklabels([f"{edge:g}" for edge in edges[:BINS]] + [f">{edges[BINS]:g}"], fontsize=8)
    ax.yaxis.set_major_locator(_whole_numbers())
    if not chart.contacted:
        _empty(ax, "no leads contacted")
    hours = "business hours" if chart.business_time else "hours"
    ax.set_title(f"Time to first contact ({hours})", fontsize=10)
    ax.set_xlabel(f"{hours} from the card in the sales channel", fontsize=8)
    ax.tick_params(labelsize=8)
    ax.legend(fontsize=8, loc="upper right")


def _empty(ax, words: str) -> None:
    """An empty panel says so, as the messages say "no leads" where a figure would be."""
    ax.text(0.5, 0.5, words, transform=ax.transAxes, ha="center", va="center", color="#616061")


def _whole_numbers():
    """Ticks at whole leads only."""
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(integer=True)
