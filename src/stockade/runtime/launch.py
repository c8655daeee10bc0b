"""Start a container's supervisor and learn whether `runc create` worked."""

import json
import os
import subprocess
import sys
from dataclasses import asdict

from stockade.runtime.runc import RuncError, Stdio
from stockade.runtime.shim import ShimConfig

_STATUS_LIMIT = 65536


def _read_status(fd: int) -> str:
    chunks: list[bytes] = []
    received = 0
    while received < _STATUS_LIMIT and (chunk := os.read(fd, 4096)):
        chunks.append(chunk)
        received += len(chunk)
        if chunk.endswith(b"\n"):
            break
    return b"".join(chunks).decode(errors="replace").strip()


def launch(cfg: ShimConfig, stdio: Stdio) -> int:
    """Spawn the shim with `stdio` as the container's; returns the init's host pid."""
    read_end, write_end = os.pipe()
    try:
        spawner = subprocess.Popen(
            [sys.executable, "-m", "stockade.runtime.shim", json.dumps(asdict(cfg)),
             str(write_end)],
            stdin=stdio.stdin, stdout=stdio.stdout, stderr=stdio.stderr,
            pass_fds=(write_end,), close_fds=True,
        )
        os.close(write_end)
        write_end = -1
        spawner.wait()
        status = _read_status(read_end)
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)
    kind, _, detail = status.partition(" ")
    if kind == "created":
        return int(detail)
    raise RuncError(detail or "the container supervisor died before reporting")
