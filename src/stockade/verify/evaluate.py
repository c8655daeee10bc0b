"""Every row, layers first, then the escape battery: pure, so tests feed it any evidence."""

from stockade.verify.battery import BATTERY, evaluate_row
from stockade.verify.checks import LAYERS, row
from stockade.verify.model import Check, Evidence, verdict


def probe_row(ev: Evidence) -> Check:
    """Did the probe run to its end? Without that every other row is on partial evidence."""
    host = ev.host
    ok = ev.probe.complete and host.probe_exit == 0
    detail = f"exit {host.probe_exit}" + ("" if ev.probe.complete else ", output incomplete")
    if host.probe_stderr.strip():
        detail += f": {host.probe_stderr.strip().splitlines()[-1][:200]}"
    if host.probe_exit == 126 and "Permission denied" in host.probe_stderr:
        detail += " (a container created before verify existed: recreate it)"
    if ev.probe.malformed:
        detail += f"; {len(ev.probe.malformed)} unreadable lines"
    return row("probe", "probe ran", "ran to the end as root inside, under the init's rules",
               verdict(ok, "completed" if ok else detail))


def evaluate(ev: Evidence) -> list[Check]:
    return [probe_row(ev), *(check(ev) for check in LAYERS),
            *(evaluate_row(r, ev) for r in BATTERY)]
