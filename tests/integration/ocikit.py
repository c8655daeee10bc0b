"""Private podman, containerd and runc set-ups that call stockade-oci, for tests.

Everything lives under one directory in /tmp (mode 0711 so a container's mapped root
can pass through), cgroups are named after a per-run tag, and every teardown removes
what its set-up made, whatever happened in between.
"""

import contextlib
import io
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import stockade
from stockade.images.embedded import build_rootfs
from stockade.linux.mounts import mounts_under
from stockade.oci import staging
from stockade.spec.container import CAPABILITY_NAMES
from tests.imagekit import sha, tar_directory

# What every test container prints: its id map and its process's security status.
PROBE = ("cat /proc/self/uid_map; "
         "grep -E '^(CapBnd|CapEff|NoNewPrivs|Seccomp):' /proc/self/status")
IMAGE = "docker.io/stockade/oci-busybox:test"
PODMAN_IMAGE = "localhost/stockade-oci-busybox:test"
CGROUP_ROOT = Path("/sys/fs/cgroup")


def run(argv: list[str], timeout: float = 90, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False,
                          stdin=subprocess.DEVNULL, **kwargs)


@dataclass(frozen=True)
class Posture:
    """What the probe saw from inside."""

    uid_map: tuple[int, int, int]
    bounding: frozenset[str]
    effective: frozenset[str]
    no_new_privs: bool
    seccomp_mode: int


def _cap_names(mask: str) -> frozenset[str]:
    bits = int(mask, 16)
    return frozenset(name for bit, name in enumerate(CAPABILITY_NAMES) if bits >> bit & 1)


def parse_probe(output: str) -> Posture:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    first = next(line for line in lines if line.split()[0].isdigit())
    c, h, s = (int(v) for v in first.split()[:3])
    status = dict(line.split(":", 1) for line in lines if ":" in line)
    return Posture(uid_map=(c, h, s), bounding=_cap_names(status["CapBnd"].strip()),
                   effective=_cap_names(status["CapEff"].strip()),
                   no_new_privs=status["NoNewPrivs"].strip() == "1",
                   seccomp_mode=int(status["Seccomp"].strip()))


@dataclass
class World:
    """One test run's files: the launcher, its policy and log, a busybox rootfs."""

    base: Path
    tag: str

    @property
    def launcher(self) -> Path:
        return self.base / "bin" / "stockade-oci"

    @property
    def policy(self) -> Path:
        return self.base / "oci-policy.toml"

    @property
    def log(self) -> Path:
        return self.base / "oci.jsonl"

    @property
    def rootfs(self) -> Path:
        return self.base / "rootfs"

    def set_policy(self, text: str = "") -> None:
        self.policy.write_text(f'log = "{self.log}"\n{text}')

    def records(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def staged(self) -> list[Path]:
        """stockade-oci's directories for containers of runc roots under our base."""
        top = Path(staging.STAGING)
        if not top.exists():
            return []
        return [entry for root in top.iterdir() if staging.unquote(root.name).startswith(
            str(self.base)) for entry in [root, *root.iterdir()]]

    def record_for(self, container_id: str) -> dict[str, Any]:
        found = [r for r in self.records() if r["container"] == container_id]
        assert found, f"no stockade-oci record for {container_id}: {self.records()}"
        return found[-1]


def _write_launcher(world: World) -> None:
    """What the console script does, pointed at this checkout and a private policy."""
    source = Path(stockade.__file__).resolve().parents[1]
    world.launcher.parent.mkdir(mode=0o755)
    world.launcher.write_text(
        f"#!{sys.executable}\n"
        "import os, sys\n"
        f"sys.path.insert(0, {str(source)!r})\n"
        f"os.environ['STOCKADE_OCI_POLICY'] = {str(world.policy)!r}\n"
        "from stockade.oci.main import main\n"
        "main()\n")
    world.launcher.chmod(0o755)


def remove_cgroups(name: str) -> None:
    """Kill what still runs in /sys/fs/cgroup/*/<name>, then rmdir it, leaves first."""
    killed = False
    for procs in CGROUP_ROOT.glob(f"pids/{name}/**/cgroup.procs"):
        for pid in procs.read_text().split():
            with contextlib.suppress(OSError):
                os.kill(int(pid), signal.SIGKILL)
                killed = True
    if killed:
        time.sleep(0.2)  # let the kernel reap them before the rmdirs
    for top in CGROUP_ROOT.glob(f"*/{name}"):
        for directory in sorted(top.rglob("*"), key=lambda p: -len(p.parts)):
            with contextlib.suppress(OSError):
                directory.rmdir()
        with contextlib.suppress(OSError):
            top.rmdir()


def force_clean(base: Path) -> None:
    """Last resort after a failure: kill our processes, unmount, remove the tree."""
    for proc in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):
            if str(base).encode() in (proc / "cmdline").read_bytes() and int(proc.name) != \
                    os.getpid():
                os.kill(int(proc.name), signal.SIGKILL)
    top = Path(staging.STAGING)
    ours = [root for root in top.iterdir() if staging.unquote(root.name).startswith(
        str(base))] if top.exists() else []
    for tree in [base, *ours]:
        for point in sorted(mounts_under(tree), key=lambda p: -len(str(p))):
            run(["umount", "-l", str(point)])
    for root in ours:
        for entry in root.iterdir():
            staging.remove(str(entry))
    shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def world() -> Iterator[World]:
    tag = f"stockade-oci-t{secrets.token_hex(3)}"
    base = Path(f"/tmp/{tag}")
    base.mkdir(mode=0o711)
    made = World(base=base, tag=tag)
    try:
        build_rootfs(made.rootfs)
        _write_launcher(made)
        made.set_policy()
        yield made
    finally:
        force_clean(base)
        remove_cgroups(tag)


# --- containerd -------------------------------------------------------------------------

_CONTAINERD_CONFIG = """version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing"]
[grpc]
  address = "{d}/containerd.sock"
[ttrpc]
  address = "{d}/containerd.sock.ttrpc"
[debug]
  address = "{d}/debug.sock"
[metrics]
  address = ""
"""


def image_archive(rootfs: Path, target: Path) -> Path:
    """An OCI archive whose one layer is `rootfs`, named IMAGE."""
    layer_buffer = io.BytesIO()
    with tarfile.open(fileobj=layer_buffer, mode="w") as layer_tar:
        for path in sorted(rootfs.rglob("*")):
            layer_tar.add(path, arcname=str(path.relative_to(rootfs)), recursive=False)
    layout = target.with_suffix(".layout")
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def put(data: bytes) -> str:
        (blobs / sha(data)[7:]).write_bytes(data)
        return sha(data)

    layer = layer_buffer.getvalue()
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "config": {"Cmd": ["sh"], "Env": ["PATH=/bin:/usr/bin:/sbin"]},
                         "rootfs": {"type": "layers", "diff_ids": [sha(layer)]}}).encode()
    manifest_type = "application/vnd.oci.image.manifest.v1+json"
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": manifest_type,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": put(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": put(layer), "size": len(layer)}]}).encode()
    digest = put(manifest)
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": manifest_type, "digest": digest, "size": len(manifest),
         "annotations": {"org.opencontainers.image.ref.name": IMAGE}}]}))
    return tar_directory(layout, target)


class Containerd:
    """A containerd of our own: private root, state, socket and namespace."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.dir = world.base / "containerd"
        self.namespace = world.tag
        self.process: subprocess.Popen[bytes] | None = None

    def ctr(self, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        return run(["ctr", "--address", str(self.dir / "containerd.sock"), "--namespace",
                    self.namespace, *args], timeout=timeout)

    def start(self) -> None:
        self.dir.mkdir(mode=0o711)
        config = self.dir / "config.toml"
        config.write_text(_CONTAINERD_CONFIG.format(d=self.dir))
        with open(self.dir / "containerd.log", "wb") as log:
            self.process = subprocess.Popen(["containerd", "--config", str(config)],
                                            stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while self.ctr("version", timeout=10).returncode != 0:
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("containerd did not start: " +
                                   (self.dir / "containerd.log").read_text()[-2000:])
            time.sleep(0.2)
        archive = image_archive(self.world.rootfs, self.dir / "image.tar")
        imported = self.ctr("image", "import", str(archive))
        assert imported.returncode == 0, imported.stderr

    def run_args(self, *options: str) -> list[str]:
        """`ctr run` with the shim's BinaryName pointed at stockade-oci."""
        return ["run", "--runtime", "io.containerd.runc.v2", "--runc-binary",
                str(self.world.launcher), "--runc-root", str(self.dir / "runc"),
                "--fifo-dir", str(self.dir / "fifo"), *options]

    def remove_container(self, name: str) -> None:
        """Kill its task, wait until containerd has let go of it, delete it."""
        self.ctr("task", "kill", "--signal", "KILL", name, timeout=30)
        for _ in range(100):
            if self.ctr("task", "delete", name, timeout=30).returncode == 0:
                break
            if name not in self.ctr("task", "ls", "--quiet", timeout=30).stdout.split():
                break
            time.sleep(0.1)
        self.ctr("container", "delete", name, timeout=30)

    def stop(self) -> None:
        if self.process is None:
            return
        try:
            for name in self.ctr("container", "ls", "-q", timeout=30).stdout.split():
                self.remove_container(name)
            self.ctr("image", "rm", IMAGE, timeout=30)
        finally:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
            remove_cgroups(self.namespace)


@contextlib.contextmanager
def containerd(world: World) -> Iterator[Containerd]:
    """Started on a private socket; stopped and emptied after, /run/containerd too."""
    existed = Path("/run/containerd").exists()
    daemon = Containerd(world)
    try:
        daemon.start()
        yield daemon
    finally:
        daemon.stop()
        if not existed:  # the shims' socket directory containerd makes there
            for leftover in ("s", "fifo", ""):
                with contextlib.suppress(OSError):
                    (Path("/run/containerd") / leftover).rmdir()


# --- podman -----------------------------------------------------------------------------


class Podman:
    """podman on a private storage root, runtime stockade-oci, cgroups under our tag."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.dir = world.base / "podman"

    def podman(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return run(["podman", "--root", str(self.dir / "root"), "--runroot",
                    str(self.dir / "run"), "--tmpdir", str(self.dir / "tmp"),
                    "--cgroup-manager", "cgroupfs", "--events-backend", "file",
                    "--storage-driver", "overlay", "--runtime", str(self.world.launcher), *args],
                   timeout=timeout)

    def run(self, name: str, *command: str, options: tuple[str, ...] = (),
            image: str | None = None) -> subprocess.CompletedProcess[str]:
        """`podman run --rm` of the busybox tree (--rootfs), or of an imported image."""
        source = [image] if image else ["--rootfs", str(self.world.rootfs)]
        # podman on this host needs explicit nofile and nproc limits (see the README).
        return self.podman("run", "--rm", "--name", name, "--network", "none",
                           "--cgroup-parent", f"/{self.world.tag}",
                           "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
                           *options, *source, *command)

    def import_image(self) -> str:
        """The busybox tree as an image in podman's overlay storage."""
        archive = self.world.base / "podman-layer.tar"
        with tarfile.open(archive, "w") as layer:
            for path in sorted(self.world.rootfs.rglob("*")):
                layer.add(path, arcname=str(path.relative_to(self.world.rootfs)),
                          recursive=False)
        done = self.podman("import", str(archive), PODMAN_IMAGE)
        assert done.returncode == 0, done.stderr
        return PODMAN_IMAGE

    def stop(self) -> None:
        if self.dir.exists():
            self.podman("rm", "--all", "--force", "--time", "0")
            self.podman("rmi", "--all", "--force")
        remove_cgroups(self.world.tag)


@contextlib.contextmanager
def podman(world: World) -> Iterator[Podman]:
    engine = Podman(world)
    try:
        yield engine
    finally:
        engine.stop()
