"""Build the small static helpers (init, probe) from their C sources with the host's gcc."""

import fcntl
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from stockade.errors import HostUnsupported
from stockade.linux import private

SOURCES = Path(__file__).parent
CFLAGS = ("-static", "-Os", "-Wall", "-Wextra", "-Werror")
EXECUTE_ONLY = 0o711


def _digest(source: Path) -> str:
    return hashlib.sha256(source.read_bytes() + " ".join(CFLAGS).encode()).hexdigest()


def binary(name: str, out_dir: Path) -> Path:
    """Path of the compiled helper `name`, built once per source version.

    Static, so it runs in images that have no libc at all."""
    source = SOURCES / f"{name}.c"
    target = out_dir / name
    stamp = out_dir / f".{name}.sha256"
    digest = _digest(source)
    if target.exists() and stamp.exists() and stamp.read_text() == digest:
        return target
    out_dir.mkdir(parents=True, exist_ok=True)
    # containers bind-mount the directory and execute the helpers: they pass, never list
    # or read (executing a static binary needs no read permission)
    out_dir.chmod(EXECUTE_ONLY)
    lock = private.open_append(out_dir / ".build.lock")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)  # concurrent first runs build once
        if not (stamp.exists() and stamp.read_text() == digest and target.exists()):
            _compile(source, target)
            private.write(stamp, digest)
    finally:
        os.close(lock)
    return target


def _compile(source: Path, target: Path) -> None:
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        raise HostUnsupported("no C compiler: install gcc and libc6-dev (see the README)")
    staging = target.with_name(f".{target.name}.{os.getpid()}")
    proc = subprocess.run([compiler, *CFLAGS, "-o", str(staging), str(source)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        staging.unlink(missing_ok=True)
        raise HostUnsupported(f"building {source.name} failed: {proc.stderr.strip()[:500]}")
    staging.chmod(EXECUTE_ONLY)
    os.replace(staging, target)
