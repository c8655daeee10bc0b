"""PNG plots of each suite's `series`; skipped (and said so) when matplotlib is missing."""

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.model import SuiteResult

Axes = Any  # matplotlib ships no type information we could rely on here


def draw(result: SuiteResult, directory: Path) -> list[str]:
    """Paths of the PNGs written for `result`."""
    drawer = _DRAWERS.get(result.name)
    if drawer is None or result.status != "ok" or not result.series:
        return []
    if importlib.util.find_spec("matplotlib") is None:
        result.notes.append("no plot: matplotlib is missing (python -m bench --setup)")
        return []
    import matplotlib

    matplotlib.use("Agg")  # no display: files only
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(1, drawer[1], figsize=(6.5 * drawer[1], 4.2), squeeze=False)
    drawer[0](result.series, list(axes[0]))
    figure.suptitle(f"{result.name}: {result.title}", fontsize=10)
    figure.tight_layout()
    path = directory / f"{result.name}.png"
    figure.savefig(path, dpi=110)
    pyplot.close(figure)
    return [str(path)]


def _bars(axes: Axes, values: dict[str, float | None], unit: str, title: str) -> None:
    labels = [k for k, v in values.items() if v is not None]
    heights = [float(values[k] or 0.0) for k in labels]
    bars = axes.barh(labels, heights, color="#4c72b0")
    axes.bar_label(bars, labels=[f"{h:.1f}" for h in heights], fontsize=8, padding=2)
    axes.invert_yaxis()
    axes.set_xlabel(unit)
    axes.set_title(title, fontsize=9)
    axes.tick_params(labelsize=8)


def _latency(series: dict[str, Any], axes: list[Axes]) -> None:
    _bars(axes[0], series["compare"], "ms (median)", "create, run true, destroy")
    phases = {k: v for k, v in series["phases"].items() if not k.startswith("teardown:")}
    _bars(axes[1], phases, "ms (median)", "in-process engine, by phase")


def _images(series: dict[str, Any], axes: list[Axes]) -> None:
    _bars(axes[0], series["import"], "s (median)", "100 MiB image: import vs tar -xf")
    _bars(axes[1], series["writable"], "ms (median)", "writable layer per quota backend")


def _cli(series: dict[str, Any], axes: list[Axes]) -> None:
    _bars(axes[0], series["startup"], "ms (median)", "start-up, private root")
    _bars(axes[1], series["imports"], "ms (median)", "own import time by package, stockade ps")


def _egress(series: dict[str, Any], axes: list[Axes]) -> None:
    counts = series["counts"]
    for metric, values in series["lines"].items():
        target = axes[1] if "TCP" in metric else axes[0]
        target.plot(counts, values, marker="o", label=metric)
    for target, unit, title in ((axes[0], "ms (median)", "create and setup"),
                                (axes[1], "us (median)", "new TCP connection")):
        target.set_xscale("log")
        target.set_xticks(counts, [f"{c:,}" for c in counts])
        target.set_xlabel("security-group rules bound")
        target.set_ylabel(unit)
        target.set_title(title, fontsize=9)
        target.legend(fontsize=7)
        target.set_ylim(bottom=0)


def _fairness(series: dict[str, Any], axes: list[Axes]) -> None:
    ratios = series["ratios"]
    axes[0].bar(range(1, len(ratios) + 1), ratios, color="#4c72b0", label="measured")
    axes[0].axhline(series["expected"], color="#c44e52", linestyle="--", label="expected")
    axes[0].set_xlabel("window")
    axes[0].set_ylabel("CPU time 512M : 256M")
    axes[0].set_title("CPU time ratio per window", fontsize=9)
    axes[0].legend(fontsize=7)


def _density(series: dict[str, Any], axes: list[Axes]) -> None:
    creates = series["creates"]
    axes[0].plot(range(1, len(creates) + 1), creates, linewidth=0.8, color="#4c72b0")
    axes[0].set_xlabel("container number")
    axes[0].set_ylabel("create latency, ms")
    axes[0].set_ylim(bottom=0)
    axes[0].set_title("create latency as containers accumulate", fontsize=9)
    _stacked(axes[1], series["memory"], series["goal_mib"])


def _stacked(axes: Axes, stages: dict[str, dict[str, float]], goal: float) -> None:
    """One bar per container count, stacked by part, with the goal as a line."""
    labels = [f"N={count}" for count in stages]
    left = [0.0] * len(stages)
    colours = ("#4c72b0", "#55a868", "#8172b2", "#ccb974")
    parts = list(next(iter(stages.values()), {}))
    for colour, part in zip(colours, parts, strict=False):
        widths = [max(values.get(part, 0.0), 0.0) for values in stages.values()]
        axes.barh(labels, widths, left=left, color=colour, label=part)
        left = [a + b for a, b in zip(left, widths, strict=True)]
    for index, values in enumerate(stages.values()):  # the sum as measured, even if a
        axes.text(left[index], index, f" host {sum(values.values()):.2f}", va="center",
                  fontsize=8)  # part below zero was drawn as none
    axes.axvline(goal, color="#c44e52", linestyle="--", label=f"goal {goal} MiB")
    axes.set_xlim(0, max([goal, *left]) * 1.3)
    axes.invert_yaxis()
    axes.set_xlabel("MiB per container beyond the application (medians)")
    axes.set_title("host memory per container beyond the application", fontsize=9)
    axes.tick_params(labelsize=8)
    axes.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3)


def _throughput(series: dict[str, Any], axes: list[Axes]) -> None:
    labels = [f"{n} client{'s' if n > 1 else ''}" for n in series["clients"]]
    bars = axes[0].bar(labels, series["per_second"], color="#4c72b0", label="through the API")
    axes[0].bar_label(bars, fmt="%.1f", fontsize=8)
    if series["reference"]:
        axes[0].axhline(series["reference"], color="#c44e52", linestyle="--",
                        label="in-process engine, 1 caller")
    axes[0].set_ylabel("containers per second")
    axes[0].set_title("create, run true, destroy", fontsize=9)
    axes[0].legend(fontsize=7)


def _logflood(series: dict[str, Any], axes: list[Axes]) -> None:
    times = series["t"]
    axes[0].plot(times, series["log_mib"], linewidth=0.8, color="#4c72b0",
                 label="log files on disk")
    axes[0].plot(times, series["held_mib"], linewidth=0.8, color="#8172b2",
                 label="with deleted files held open")
    axes[0].plot(times, series["fs_mib"], linewidth=0.8, color="#55a868",
                 label="root filesystem used, vs start")
    axes[0].axhline(series["cap_mib"], color="#c44e52", linestyle="--", label="cap")
    axes[0].set_xlabel("seconds of flood")
    axes[0].set_ylabel("MiB")
    axes[0].set_title("disk, sampled every 0.25 s", fontsize=9)
    axes[0].legend(fontsize=7)
    for name, values in series["rss_mib"].items():
        axes[1].plot(times, values, linewidth=0.8, label=name)
    axes[1].set_xlabel("seconds of flood")
    axes[1].set_ylabel("RSS, MiB")
    axes[1].set_ylim(bottom=0)
    axes[1].set_title("memory of the daemon, conmon and the follower", fontsize=9)
    axes[1].legend(fontsize=7)


_DRAWERS: dict[str, tuple[Callable[[dict[str, Any], list[Axes]], None], int]] = {
    "latency": (_latency, 2),
    "images": (_images, 2),
    "cli": (_cli, 2),
    "egress": (_egress, 2),
    "fairness": (_fairness, 1),
    "density": (_density, 2),
    "throughput": (_throughput, 1),
    "logflood": (_logflood, 2),
}
