"""Run real containers from tests on a private root, and prove nothing was left behind."""

import contextlib
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from stockade.engine import Engine, EngineConfig
from stockade.host import probe
from stockade.linux import loopdev
from stockade.linux.mounts import mounts_under
from stockade.runtime import logfile
from stockade.spec import ContainerSpec
from stockade.wire.stream import Stream

CGROUP_ROOT = Path("/sys/fs/cgroup")
BIND_BASE = Path("/srv/stockade")  # the default bind allowlist


@contextlib.contextmanager
def allowed_dir() -> Iterator[Path]:
    """A fresh directory under the default bind allowlist, removed afterwards (and the
    base too when this made it and nothing else is in it)."""
    made_base = not BIND_BASE.exists()
    BIND_BASE.mkdir(mode=0o755, parents=True, exist_ok=True)
    path = BIND_BASE / f"test-{uuid.uuid4().hex[:10]}"
    path.mkdir()
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        if made_base:
            with contextlib.suppress(OSError):  # another test may be using it
                BIND_BASE.rmdir()


def handle(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@contextlib.contextmanager
def private_engine(backend: str = "auto", **settings: object) -> Iterator[Engine]:
    """An engine on /tmp/stockade-test-*; everything it made is removed, then checked."""
    tag = uuid.uuid4().hex[:10]
    root = Path(f"/tmp/stockade-test-{tag}")
    config = EngineConfig.model_validate({"root": root, "cgroup_parent": f"stockade-test-{tag}",
                                          "quota_backend": backend, **settings})
    engine = Engine(config, probe())
    try:
        yield engine
    finally:
        try:
            for info in engine.list():
                with contextlib.suppress(Exception):
                    engine.destroy(info.handle)
            engine.cleanup()
            engine.close()
            assert_no_leaks(root, config.cgroup_parent)
        finally:
            for point in mounts_under(root):
                with contextlib.suppress(OSError):
                    os.system(f"umount -l '{point}'")  # last resort after a failed check
            shutil.rmtree(root, ignore_errors=True)


def leaks(root: Path, cgroup_parent: str) -> list[str]:
    """Mounts, loop devices, cgroups and processes that still refer to this root.

    `cgroup_parent` may be "parent/handle" when the parent is shared with others."""
    found = [f"mount {p}" for p in mounts_under(root)]
    found += [f"loop device {d}" for d in loopdev.devices_backed_by(root)]
    found += [f"cgroup {p}" for p in CGROUP_ROOT.glob(f"*/{cgroup_parent}") if p.exists()]
    for proc in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):
            if str(root).encode() in (proc / "cmdline").read_bytes():
                found.append(f"process {proc.name}")
    return found


def assert_no_leaks(root: Path, cgroup_parent: str) -> None:
    left = leaks(root, cgroup_parent)
    assert not left, f"left behind: {left}"


def output(engine: Engine, handle: str, timeout: float = 30) -> tuple[bytes, bytes]:
    """(stdout, stderr) from the container's log, once its monitor has written all of it
    (the monitor writes the exit before the last output it drains)."""
    deadline = time.monotonic() + timeout
    while not engine.has_ended(handle) and time.monotonic() < deadline:
        time.sleep(0.02)
    streams = {Stream.STDOUT: bytearray(), Stream.STDERR: bytearray()}
    for record in logfile.read(engine.log_files(handle)):
        streams[record.stream].extend(record.payload())
    return bytes(streams[Stream.STDOUT]), bytes(streams[Stream.STDERR])


def run(engine: Engine, spec: ContainerSpec, keep: bool = False) -> tuple[int, str]:
    """Create, start and wait; (exit code, stdout+stderr in the order written). Destroyed
    unless `keep`."""
    try:
        engine.create(spec)
        engine.start(spec.handle)
        status = engine.wait(spec.handle, timeout=120)
        assert status is not None and status.exit_code is not None, "container did not finish"
        output(engine, spec.handle)  # complete
        text = b"".join(r.payload() for r in logfile.read(engine.log_files(spec.handle)))
        return status.exit_code, text.decode(errors="replace")
    finally:
        if not keep:
            with contextlib.suppress(Exception):
                engine.destroy(spec.handle)
