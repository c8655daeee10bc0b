"""The writable layer's quota holds, per backend, and takes nothing of the host with it."""

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from stockade.engine import Engine
from stockade.linux import loopdev
from stockade.linux.mounts import is_mountpoint, unmount
from stockade.spec import ContainerSpec, Limits, ProcessSpec
from stockade.volumes import overlay
from stockade.volumes.probe import choose
from tests.containerkit import handle, leaks, private_engine, run

pytestmark = pytest.mark.integration
MIB = 1 << 20
QUOTA = 24 * MIB
FILL = "dd if=/dev/zero of=/tmp/fill bs=1M count=200 2>&1; sync; echo dd-exit=$?"


def _available(backend: str) -> bool:
    return next(c for c in choose(Path("/tmp"), "auto").candidates if c.name == backend).available


@pytest.fixture(params=["btrfs", "loop"])
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    if not _available(request.param):
        pytest.skip(f"{request.param} quota backend not available on this host")
    with private_engine(request.param) as engine:
        yield engine


def _spec(args: str, disk: int = QUOTA) -> ContainerSpec:
    return ContainerSpec(handle=handle("q"), process=ProcessSpec(args=["sh", "-c", args]),
                         limits=Limits(disk_bytes=disk))


def _host_free() -> int:
    st = os.statvfs("/tmp")
    return st.f_bavail * st.f_frsize


def test_write_past_quota_fails_and_host_keeps_its_space(engine: Engine) -> None:
    free_before = _host_free()
    filler = _spec(FILL)
    code, out = run(engine, filler, keep=True)
    assert "Disk quota exceeded" in out or "No space left on device" in out, out
    info = engine.inspect(filler.handle)
    assert info.disk is not None and info.disk.limit_bytes == QUOTA
    assert info.disk.backend == engine.volumes.choice.active
    assert info.disk.used_bytes is not None and QUOTA // 2 < info.disk.used_bytes <= QUOTA + MIB
    assert free_before - _host_free() < QUOTA + 16 * MIB, "the host lost more than the quota"

    neighbour = _spec("dd if=/dev/zero of=/tmp/ok bs=1M count=8 2>&1 && echo neighbour-ok")
    code, out = run(engine, neighbour)
    assert code == 0 and "neighbour-ok" in out, out

    engine.destroy(filler.handle)
    assert free_before - _host_free() < 16 * MIB


def test_destroy_removes_layer_quota_and_loop_device(engine: Engine) -> None:
    spec = _spec("echo hi > /tmp/x")
    run(engine, spec, keep=True)
    root = engine.config.root
    assert loopdev.devices_backed_by(root), "a loop device backs the writable layer"
    engine.destroy(spec.handle)
    assert not loopdev.devices_backed_by(root)
    assert not is_mountpoint(root / "volumes")
    assert leaks(root, engine.config.cgroup_parent) == []


def test_shared_store_released_with_last_container(engine: Engine) -> None:
    first, second = _spec("exit 0"), _spec("exit 0")
    run(engine, first, keep=True)
    run(engine, second, keep=True)
    engine.destroy(first.handle)
    if engine.volumes.choice.active == "btrfs":
        assert is_mountpoint(engine.config.root / "volumes"), "still needed by the second"
    engine.destroy(second.handle)
    assert leaks(engine.config.root, engine.config.cgroup_parent) == []


def test_cleanup_after_a_crash_mid_create(engine: Engine) -> None:
    """A create killed after the writable layer was made: cleanup takes it apart."""
    image = engine.images.get("busybox")
    directory = engine.layout.container("crashed-" + handle())
    directory.mkdir()
    engine.volumes.create(directory, image.layers, engine.config.id_base, QUOTA)
    assert leaks(engine.config.root, engine.config.cgroup_parent)
    done = engine.cleanup()
    assert any("leftover" in line for line in done)
    assert leaks(engine.config.root, engine.config.cgroup_parent) == []


def test_volume_destroy_is_safe_twice_and_on_nothing(engine: Engine) -> None:
    directory = engine.layout.container(handle())
    directory.mkdir()
    engine.volumes.destroy(directory)
    image = engine.images.get("busybox")
    engine.volumes.create(directory, image.layers, engine.config.id_base, QUOTA)
    engine.volumes.destroy(directory)
    engine.volumes.destroy(directory)
    assert leaks(engine.config.root, engine.config.cgroup_parent) == []


def test_xfs_is_probed_and_skipped_with_a_reason() -> None:
    choice = choose(Path("/tmp"))
    xfs = next(c for c in choice.candidates if c.name == "xfs")
    if not xfs.available:
        assert xfs.detail and "xfs skipped" in choice.reason
        assert choice.active != "xfs"


def test_destroy_after_the_store_was_unmounted(engine: Engine) -> None:
    """As after a reboot: the store is not mounted, the container's layer is in the file."""
    if engine.volumes.choice.active != "btrfs":
        pytest.skip("only the btrfs store outlives its mount")
    spec = _spec("echo hi > /tmp/x")
    run(engine, spec, keep=True)
    overlay.unmount_overlay(engine.layout.container(spec.handle))
    unmount(engine.config.root / "volumes")
    engine.destroy(spec.handle)
    assert leaks(engine.config.root, engine.config.cgroup_parent) == []
    assert engine.cleanup() == []


def test_cleanup_sweeps_subvolumes_nobody_owns(engine: Engine) -> None:
    """A writable layer whose container directory vanished entirely (record and all)."""
    if engine.volumes.choice.active != "btrfs":
        pytest.skip("only the btrfs store holds layers outside container directories")
    directory = engine.layout.container(handle("lost"))
    directory.mkdir()
    engine.volumes.create(directory, engine.images.get("busybox").layers,
                          engine.config.id_base, QUOTA)
    overlay.unmount_overlay(directory)
    shutil.rmtree(directory)
    orphan = engine.config.root / "volumes" / directory.name
    assert engine.cleanup() == [], "a fresh subvolume may belong to a create in progress"
    os.utime(orphan, (1, 1))
    assert any("orphaned" in line for line in engine.cleanup())
    assert leaks(engine.config.root, engine.config.cgroup_parent) == []
