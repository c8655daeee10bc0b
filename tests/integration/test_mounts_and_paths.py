"""Mounts and paths (issue 16 part 5), from a real container and the host's side of it."""

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from stockade.engine import Engine
from stockade.errors import InvalidSpec
from stockade.linux.mounts import mounts_under
from stockade.runtime.runc import Stdio
from stockade.volumes import xfs
from tests.daemonkit import Daemon
from tests.imagekit import ImageSpec, Member, sample_image, write_oci_layout
from tests.integration.helpers import run, spec, start_detached

pytestmark = pytest.mark.integration


def _rootfs(engine: Engine, handle: str) -> Path:
    config = json.loads((engine.layout.bundle(handle) / "config.json").read_text())
    return Path(config["root"]["path"])


def test_a_setuid_file_planted_in_a_container_raises_nobody_on_the_host(engine: Engine) -> None:
    script = "cp /bin/busybox /tmp/busybox && chmod 4755 /tmp/busybox && echo PLANTED"
    result = run(engine, ["sh", "-c", script], keep=True, process={"user": "root"})
    try:
        assert "PLANTED" in result.out, result.err
        planted = _rootfs(engine, result.info.handle) / "tmp/busybox"
        st = planted.stat()
        assert st.st_mode & 0o4000 and st.st_uid == engine.config.id_base
        assert os.statvfs(planted).f_flag & os.ST_NOSUID
        assert os.statvfs(planted).f_flag & os.ST_NODEV
        # run from the host through the store path: without nosuid this prints the
        # container's shared uid
        done = subprocess.run([str(planted), "id", "-u"], capture_output=True, text=True,
                              check=True)
        assert done.stdout.strip() == str(os.geteuid())
        # the same file in the writable layer (the overlay's upper directory) is on a
        # nosuid filesystem too
        upper = list((engine.config.root / "volumes").rglob("upper/tmp/busybox"))
        assert upper and all(os.statvfs(p).f_flag & os.ST_NOSUID for p in upper)
    finally:
        engine.destroy(result.info.handle)


def test_info_shows_the_runc_minimum_and_this_hosts_standing(daemon: Daemon) -> None:
    data = json.loads(daemon.cli("info", "--json").stdout)
    assert data["runc_minimum"]["available"]  # this daemon started, so its runc passed
    assert "1.1.12" in data["runc_minimum"]["detail"]
    text = daemon.cli("info", "--no-trunc").stdout
    assert "runc minimum" in text and "CVE-2024-21626" in text


@pytest.mark.parametrize("cwd", ["/proc/self/fd/7", "/proc/self/cwd", "/dev/fd/5"])
def test_a_working_directory_in_proc_or_dev_is_refused_before_runc(engine: Engine,
                                                                   cwd: str) -> None:
    request = spec(["pwd"], process={"cwd": cwd})
    with pytest.raises(InvalidSpec) as refused:
        engine.create(request)
    assert "CVE-2024-21626" in str(refused.value) and "\n" not in str(refused.value)
    assert [c.handle for c in engine.list()] == []


def test_exec_into_a_symlink_the_container_pointed_at_proc_is_refused(engine: Engine) -> None:
    name = start_detached(engine, ["sh", "-c", "ln -s /proc/self/fd/7 /tmp/w; exec sleep 300"])
    time.sleep(0.5)
    with pytest.raises(InvalidSpec, match="resolved in the image"):
        exec_capture_in(engine, name, ["pwd"], "/tmp/w")
    assert exec_capture_in(engine, name, ["pwd"], "/tmp")[1].strip() == "/tmp"


def exec_capture_in(engine: Engine, name: str, args: list[str], cwd: str) -> tuple[int, str]:
    with tempfile.TemporaryFile() as out:
        stdin = os.open(os.devnull, os.O_RDONLY)
        try:
            code = engine.exec(name, args, Stdio(stdin, out.fileno(), out.fileno()), cwd=cwd)
        finally:
            os.close(stdin)
        out.seek(0)
        return code, out.read().decode()


@pytest.mark.parametrize(("working_dir", "extra", "message"), [
    ("/proc/self/fd/7", [], "is in /proc"),
    ("/work", [Member("work", "symlink", target="/proc/self/fd/7")], "resolved in the image"),
    ("/app/up/self/cwd", [Member("app/up", "symlink", target="../proc")],
     "resolved in the image"),
    ("app", [], "must be an absolute path"),
])
def test_an_image_working_directory_of_the_cve_2024_21626_shape_is_refused(
        engine: Engine, tmp_path: Path, working_dir: str, extra: list[Member],
        message: str) -> None:
    image = sample_image()
    spec_image = ImageSpec(layers=[image.layers[0] + extra], working_dir=working_dir)
    name = f"wd-{len(extra)}-{abs(hash(working_dir)) % 10_000}"
    engine.import_image(write_oci_layout(spec_image, tmp_path / "oci"), name=name)
    with pytest.raises(InvalidSpec, match=message) as refused:
        engine.create(spec(["true"], image=name))
    assert "\n" not in str(refused.value)
    assert [c.handle for c in engine.list()] == []


def test_the_xfs_writable_layer_is_sealed_nosuid_nodev(tmp_path: Path) -> None:
    # The XFS backend's layer is a directory of the store's filesystem, so it binds it onto
    # itself with the flags. This kernel lacks XFS quotas, so the backend itself cannot run
    # here: the sealing is proven on a plain directory.
    layer = tmp_path / "disk"
    layer.mkdir()
    before = os.statvfs(layer).f_flag
    try:
        xfs.seal(layer)
        xfs.seal(layer)  # a retried create seals again without stacking a second bind
        assert len([p for p in mounts_under(tmp_path) if p == layer]) == 1
        flags = os.statvfs(layer).f_flag
        assert flags & os.ST_NOSUID and flags & os.ST_NODEV
        assert not before & os.ST_NOSUID  # the flags come from the seal, not from /tmp
    finally:
        xfs.unseal(layer)
        xfs.unseal(layer)  # destroy runs twice
    assert mounts_under(tmp_path) == []
