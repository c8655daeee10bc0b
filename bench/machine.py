"""The machine the figures came from, recorded with every result file."""

import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any

from bench.sandbox import host


def _first_line(argv: list[str]) -> str | None:
    if shutil.which(argv[0]) is None:
        return None
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    lines = proc.stdout.strip().splitlines()
    return lines[0] if proc.returncode == 0 and lines else None


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _git() -> str | None:
    here = Path(__file__).resolve().parent
    commit = _first_line(["git", "-C", str(here), "rev-parse", "--short", "HEAD"])
    dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain"],
                           capture_output=True, text=True, check=False).stdout.strip()
    return f"{commit}{' (with uncommitted changes)' if dirty else ''}" if commit else None


def describe() -> dict[str, Any]:
    features = host()
    return {
        "cpus": os.cpu_count(), "cpu_model": _cpu_model(),
        "memory_gib": round(features.memory_bytes / (1 << 30), 1),
        "kernel": platform.release(), "cgroup_version": features.cgroup_version,
        "runc": features.runc_version, "podman": _first_line(["podman", "--version"]),
        "python": platform.python_version(), "mac": features.mac,
        "debian": Path("/etc/debian_version").read_text().strip()
        if Path("/etc/debian_version").exists() else None,
        "commit": _git(),
    }


def one_line(info: dict[str, Any]) -> str:
    return (f"{info['cpus']} CPUs ({info['cpu_model']}), {info['memory_gib']} GiB, kernel "
            f"{info['kernel']}, cgroup v{info['cgroup_version']}, runc {info['runc']}, "
            f"{info['podman'] or 'no podman'}, Python {info['python']}, commit {info['commit']}")
