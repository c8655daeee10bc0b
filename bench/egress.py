"""Item 4: container create time and TCP connect latency with 1, 1,000 and 10,000
security-group rules bound.

For each rule count, a group of that many rules (one allowing a server in an "outside"
namespace the suite makes, the rest distinct /32s and ports nothing is sent to) is bound:
- through the Engine to real containers: create time of the first container (which also
  installs the group's sets in the table) and of later ones, and the median time of a new
  TCP connection from a container's namespace to the server (each new connection walks
  the egress chain; established traffic does not);
- through the network manager alone as a platform default (`bench/network.py`), which
  isolates network setup from the rest of a create.
Ratios are against the same figure with 1 rule, measured in the same run."""

import contextlib
import statistics
import time
from pathlib import Path

from bench.model import Context, Row, SuiteResult
from bench.network import OUT_PORT, Sink, connect_time, outside, rules, setup_times
from bench.sandbox import sandbox
from stockade.engine import Engine
from stockade.network import links
from stockade.spec import ContainerSpec, ProcessSpec

NAME = "egress"
TITLE = "Egress rules: create time and TCP connect latency vs rules bound"
COUNTS = (1, 1000, 10000)


def run(ctx: Context) -> SuiteResult:
    later, connects = ctx.rounds(10, 3), ctx.rounds(200, 100)
    result = SuiteResult(NAME, TITLE, params={"counts": COUNTS, "later_creates": later,
                                              "connections": connects,
                                              "setup_samples": ctx.rounds(15, 5)})
    figures: dict[int, dict[str, list[float]]] = {}
    with sandbox(NAME, result.leftovers) as box, outside() as (ns, host_if, _, server):
        sink = Sink(server, OUT_PORT, ns)
        try:
            network = box.network.model_copy(update={"uplinks": (host_if,)})
            engine = box.engine(network=network)
            _keep_shared_objects_up(engine)
            for count in COUNTS:
                figures[count] = _engine_figures(engine, count, server, later, connects)
                setup = setup_times(box.dir, host_if, count, ctx.rounds(15, 5), server,
                                    network=network)
                figures[count] |= {"setup first": [setup["first"] * 1e3],
                                   "setup later": [setup["median"] * 1e3]}
        finally:
            sink.close()
    result.leftovers.extend(_outside_left(ns, host_if))
    _report(result, figures, connects)
    return result


def _keep_shared_objects_up(engine: Engine) -> None:
    """A container without the group keeps the image, volume store, bridge and table in
    place, so a "first" create pays for installing the group and nothing else."""
    engine.create(ContainerSpec(handle="resident", process=ProcessSpec(args=["sleep", "3600"])))


def _engine_figures(engine: Engine, count: int, server: str, later: int,
                    connects: int) -> dict[str, list[float]]:
    """Samples: create times (ms), phases of later creates (ms), new connections (us)."""
    group = f"bench-{count}"
    engine.net.create_group(group, rules(count, server))
    handles = [f"eg{count}-{i}" for i in range(later + 1)]
    creates: list[float] = []
    phases: list[dict[str, float]] = []
    try:
        for handle in handles:
            spec = ContainerSpec(handle=handle, process=ProcessSpec(args=["sleep", "3600"]),
                                 security_groups=[group])
            started = time.perf_counter()
            engine.create(spec)
            creates.append((time.perf_counter() - started) * 1e3)
            phases.append(engine.phases.of(handle))
        engine.start(handles[1])
        connect = [connect_time(engine.network, handles[1], server, connects) * 1e6
                   for _ in range(3)]
    finally:
        for handle in handles:
            with contextlib.suppress(Exception):
                engine.destroy(handle)
        engine.net.remove_group(group)
    return {"create first": creates[:1], "create later": creates[1:],
            "network phase later": [p.get("network", 0.0) * 1e3 for p in phases[1:]],
            "state phase later": [p.get("state", 0.0) * 1e3 for p in phases[1:]],
            "connect": connect}


def _outside_left(ns: Path, host_if: str) -> list[str]:
    found = [f"netns {ns}"] if ns.exists() else []
    with links.netlink() as ipr:
        if links.index_of(ipr, host_if) is not None:
            found.append(f"link {host_if}")
    return found


_ROWS = (  # (figure, metric, unit)
    ("create later", "container create (later containers)", "ms"),
    ("create first", "container create (first: installs the group)", "ms"),
    ("network phase later", "network phase of a later create", "ms"),
    ("state phase later", "state phase of a later create (sqlite, group checks)", "ms"),
    ("setup later", "network setup alone (reserve + connect)", "ms"),
    ("setup first", "network setup alone, first (installs the group)", "ms"),
    ("connect", "new TCP connection from a container", "us"),
)


def _report(result: SuiteResult, figures: dict[int, dict[str, list[float]]],
            connects: int) -> None:
    for key, metric, unit in _ROWS:
        base = None
        for count in COUNTS:
            row = result.add(Row.of(f"{metric}, {count:,} rule{'s' if count > 1 else ''}",
                                    unit, figures[count][key]))
            if base is None:
                base = row.value
            else:
                row.against(f"{COUNTS[0]} rule", base)
    result.series = {"counts": list(COUNTS),
                     "lines": {metric: [statistics.median(figures[c][key]) for c in COUNTS]
                               for key, metric, _ in _ROWS}}
    result.notes.append(f"new TCP connection: three medians of {connects} connections each; "
                        "network setup alone: median of the later containers, one figure")
