"""Run the benchmark suites side by side and write bench/results/<suite>.json and PNGs.

    python -m bench                  # everything (under 15 minutes on 2 cores)
    python -m bench --quick          # fewer rounds, 20 containers not 250, 10 s floods (< 2 min)
    python -m bench --only latency --only cli
    python -m bench --setup          # install podman and the `bench` extra first

Run as root from the checkout with the code under test first on PYTHONPATH, e.g.
`PYTHONPATH=src:. .venv/bin/python -m bench`."""

import argparse
import datetime
import importlib
import json
import os
import sys
import time
import traceback
from pathlib import Path
from types import ModuleType

from bench import machine, plots, report, setup
from bench.model import Context, SuiteResult
from bench.sandbox import terminate_as_interrupt

SUITES = ("cli", "latency", "images", "egress", "fairness", "throughput", "density",
          "logflood")
RESULTS = Path(__file__).resolve().parent / "results"


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer rounds, smaller N")
    parser.add_argument("--only", action="append", choices=SUITES, metavar="NAME",
                        help=f"run only this suite (repeatable): {', '.join(SUITES)}")
    parser.add_argument("--setup", action="store_true",
                        help="install what the bench needs (podman, matplotlib) first")
    parser.add_argument("--no-setup", action="store_true",
                        help="never install anything, even when podman or matplotlib is missing")
    parser.add_argument("--results", type=Path, default=None,
                        help="where to write JSON and PNGs (default bench/results, "
                             "bench/results/quick with --quick)")
    return parser.parse_args()


def _run_suite(module: ModuleType, ctx: Context) -> SuiteResult:
    started = time.monotonic()
    try:
        result: SuiteResult = module.run(ctx)
    except Exception as exc:  # one broken suite must not cost the others' figures
        traceback.print_exc()
        result = SuiteResult(module.NAME, module.TITLE, status="failed",
                             reason=f"{type(exc).__name__}: {exc}")
    result.elapsed_s = time.monotonic() - started
    result.params.setdefault("quick", ctx.quick)
    return result


def main() -> int:
    args = _arguments()
    if os.geteuid() != 0:
        print("python -m bench: run as root (containers need namespaces, cgroups, mounts)",
              file=sys.stderr)
        return 2
    terminate_as_interrupt()
    if args.setup or (not args.no_setup and setup.missing()):
        setup.install()
    results_dir = args.results or (RESULTS / "quick" if args.quick else RESULTS)
    results_dir.mkdir(parents=True, exist_ok=True)
    ctx = Context(quick=args.quick)
    info = machine.describe()
    started_at = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    report.console.print(f"[bold]stockade bench[/] {'--quick ' if args.quick else ''}"
                         f"on {machine.one_line(info)}\n")
    wall = time.monotonic()
    done: list[SuiteResult] = []
    try:
        for name in args.only or SUITES:
            result = _run_suite(importlib.import_module(f"bench.{name}"), ctx)
            result.plots = plots.draw(result, results_dir)
            result.write(results_dir, info, started_at)
            report.show(result)
            done.append(result)
    except KeyboardInterrupt:
        report.console.print("[red]interrupted[/]: sandboxes were cleaned up")
        return 130
    finally:
        elapsed = time.monotonic() - wall
        _write_run(results_dir, info, started_at, args.quick, elapsed, done)
    report.summary(done, elapsed, args.quick)
    return 1 if any(r.status == "failed" or r.leftovers for r in done) else 0


def _write_run(directory: Path, info: dict[str, object], started_at: str, quick: bool,
               elapsed: float, done: list[SuiteResult]) -> None:
    """One file naming the run: machine, mode, wall clock, each suite's status."""
    run = {"machine": info, "started_at": started_at, "quick": quick,
           "wall_clock_s": round(elapsed, 1),
           "suites": {r.name: {"status": r.status, "reason": r.reason,
                               "elapsed_s": round(r.elapsed_s, 1), "leftovers": r.leftovers}
                      for r in done}}
    (directory / "run.json").write_text(json.dumps(run, indent=1) + "\n")


if __name__ == "__main__":
    sys.exit(main())
