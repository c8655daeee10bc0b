"""Run the filesystem tools no Python library replaces (mkfs, btrfs, xfs_quota)."""

import subprocess

from stockade.errors import StockadeError

_TIMEOUT_S = 120


class VolumeError(StockadeError):
    """A writable layer or its quota could not be made or taken apart."""


def run(args: list[str]) -> str:
    """Run a tool; its stderr becomes the error message when it fails."""
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=_TIMEOUT_S,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise VolumeError(f"{args[0]} failed: {exc}") from exc
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        detail = lines[-1] if lines else f"exit {done.returncode}"
        raise VolumeError(f"{' '.join(args[:3])} failed: {detail}")
    return done.stdout
