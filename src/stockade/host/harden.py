"""`stockade host harden`: write the safe subset of the baseline's sysctls as one drop-in,
apply it through /proc/sys, and keep the values found before in a state file, so `revert`
puts back exactly what was there and removes the drop-in. Settings that could break the
host (one-way switches, remounts) are never changed here: they are reported with the
command an operator would run."""

import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stockade.errors import HostUnsupported
from stockade.host import baseline
from stockade.host.baseline import Report, SysctlRule

DEFAULT_DROPIN = Path("/etc/sysctl.d/60-stockade-hardening.conf")
STATE_NAME = "host-hardening.json"


class HardenError(HostUnsupported):
    """A sysctl could not be written or the state file is unreadable."""


@dataclass(frozen=True)
class Change:
    name: str
    before: str
    after: str


@dataclass
class Outcome:
    action: str
    dry_run: bool
    changes: list[Change] = field(default_factory=list)
    reported: list[dict[str, str]] = field(default_factory=list)
    dropin: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"action": self.action, "dry_run": self.dry_run, "dropin": self.dropin,
                "changes": [vars(c) for c in self.changes], "reported": self.reported}


def _read(rule: SysctlRule) -> str | None:
    try:
        return Path(rule.path).read_text().strip()
    except OSError:
        return None


def _write(name: str, value: str) -> None:
    path = "/proc/sys/" + name.replace(".", "/")
    try:
        Path(path).write_text(value + "\n")
    except OSError as exc:
        raise HardenError(f"cannot set {name}={value}: {exc.strerror}") from exc


def _load(state: Path) -> dict[str, str]:
    """sysctl -> the value found before the first apply."""
    try:
        data = json.loads(state.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise HardenError(f"unreadable hardening state {state}: {exc}") from exc
    before = data.get("before") if isinstance(data, dict) else None
    if not isinstance(before, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in before.items()):
        raise HardenError(f"unreadable hardening state {state}: no 'before' table")
    return before


def _save(state: Path, before: dict[str, str]) -> None:
    state.parent.mkdir(parents=True, exist_ok=True)
    temp = state.with_name(state.name + ".tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"before": before}, out, indent=1)
        out.flush()
        os.fsync(out.fileno())
    temp.replace(state)


def dropin_text(values: dict[str, str]) -> str:
    lines = ["# Written by `stockade host harden --apply`; `--revert` removes it and puts",
             "# back the values found before (kept in the daemon's host-hardening.json)."]
    lines += [f"{name} = {value}" for name, value in sorted(values.items())]
    return "\n".join(lines) + "\n"


def risky(report: Report) -> list[dict[str, str]]:
    """What harden leaves to an operator: failed one-way sysctls and mounts, and switches
    outside the baseline that only an operator can judge."""
    rules = {rule.name: rule for rule in baseline.SYSCTLS}
    found: list[dict[str, str]] = []
    for item in report.items:
        rule = rules.get(item.name)
        if item.status == "fail" and rule is not None and rule.harden is None:
            found.append({"name": item.name, "command": rule.operator})
        elif item.status == "fail" and item.group == "mount":
            found.append({"name": item.name, "command": item.reason})
    for name, command in baseline.RISKY:
        value = baseline.parse_int(_read(SysctlRule(name, 0, None, "")))
        if value == 0:
            found.append({"name": name, "command": command})
    return found


def apply(report: Report, state: Path, dropin: Path = DEFAULT_DROPIN,
          dry_run: bool = False) -> Outcome:
    """Set every failing safe sysctl. The first value seen for each is kept across repeated
    applies, so revert always returns to the host as it was before any of them."""
    outcome = Outcome("apply", dry_run, reported=risky(report), dropin=str(dropin))
    before = _load(state)
    if not before and dropin.exists():
        # another state root applied it: its values are not the host's original ones, and
        # recording them here would make a revert keep the hardening for good
        raise HardenError(f"{dropin} exists but {state} does not: another Stockade root "
                          "applied it; revert there, or remove the drop-in and the values "
                          "it set by hand")
    failing = {item.name for item in report.items if item.status == "fail"}
    targets = {name: before_value for name, before_value in before.items()}
    wanted: dict[str, str] = {}
    for rule in baseline.SYSCTLS:
        current = _read(rule)
        if rule.harden is None or current is None:
            continue
        if rule.name in failing or rule.name in targets:
            wanted[rule.name] = str(rule.harden)
            if current != str(rule.harden):
                outcome.changes.append(Change(rule.name, current, str(rule.harden)))
            targets.setdefault(rule.name, current)
    if dry_run or not wanted:
        return outcome
    _save(state, targets)  # first, so a failure half-way can still be reverted
    dropin.parent.mkdir(parents=True, exist_ok=True)
    dropin.write_text(dropin_text(wanted))
    for change in outcome.changes:
        _write(change.name, change.after)
    return outcome


def revert(state: Path, dropin: Path = DEFAULT_DROPIN, dry_run: bool = False) -> Outcome:
    """Put back every value found before the first apply and remove the drop-in; with
    nothing applied it changes nothing, so it is safe to run twice."""
    outcome = Outcome("revert", dry_run, dropin=str(dropin))
    for name, value in sorted(_load(state).items()):
        current = _read(SysctlRule(name, 0, None, ""))
        if current is not None and current != value:
            outcome.changes.append(Change(name, current, value))
    if dry_run:
        return outcome
    for change in outcome.changes:
        _write(change.name, change.after)
    with contextlib.suppress(FileNotFoundError):
        dropin.unlink()
    with contextlib.suppress(FileNotFoundError):
        state.unlink()
    return outcome
