"""Choose the quota backend for the writable layers, strongest first, and say why."""

import shutil
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from stockade.linux import loopdev
from stockade.volumes import xfs
from stockade.volumes.record import BackendName

Wanted = Literal["auto", "xfs", "btrfs", "loop"]
ORDER: tuple[BackendName, ...] = ("xfs", "btrfs", "loop")


class Candidate(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: BackendName
    available: bool
    detail: str


class QuotaChoice(BaseModel):
    """The backend in force (None: no way to enforce a disk quota) and every probe result."""

    model_config = ConfigDict(frozen=True)

    active: BackendName | None
    reason: str
    candidates: tuple[Candidate, ...]


def _filesystems() -> set[str]:
    try:
        text = Path("/proc/filesystems").read_text()
    except OSError:
        return set()
    return {line.split()[-1] for line in text.splitlines() if line.strip()}


def _missing_tools(*names: str) -> list[str]:
    return [f"{name} is not installed" for name in names if shutil.which(name) is None]


def probe_xfs(store: Path) -> Candidate:
    reason = xfs.unavailable_reason(store)
    return Candidate(name="xfs", available=reason is None,
                     detail=reason or f"project quotas on the XFS store {store}")


def probe_btrfs() -> Candidate:
    problems = [] if "btrfs" in _filesystems() else ["kernel has no btrfs"]
    problems += _missing_tools("mkfs.btrfs", "btrfs")
    if not loopdev.available():
        problems.append("no /dev/loop-control")
    return Candidate(name="btrfs", available=not problems, detail="; ".join(problems) or
                     "subvolume + qgroup limit per container in a loop-mounted btrfs store")


def probe_loop() -> Candidate:
    problems = [] if "ext4" in _filesystems() else ["kernel has no ext4"]
    problems += _missing_tools("mkfs.ext4")
    if not loopdev.available():
        problems.append("no /dev/loop-control")
    return Candidate(name="loop", available=not problems, detail="; ".join(problems) or
                     "an ext4 filesystem of the quota's size per container, loop-mounted")


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def choose(root: Path, wanted: Wanted = "auto") -> QuotaChoice:
    candidates = (probe_xfs(_existing(root)), probe_btrfs(), probe_loop())
    usable = [c for c in candidates if c.available and wanted in ("auto", c.name)]
    if not usable:
        why = "; ".join(f"{c.name}: {c.detail}" for c in candidates)
        return QuotaChoice(active=None, reason=f"no usable quota backend ({why})",
                           candidates=candidates)
    best = usable[0]
    skipped = [f"{c.name} skipped: {c.detail}" for c in candidates[:candidates.index(best)]]
    how = "configured" if wanted != "auto" else "strongest available"
    return QuotaChoice(active=best.name, reason="; ".join([f"{how}: {best.detail}", *skipped]),
                       candidates=candidates)
