"""Execution and writes really limited (issue 16 part 2): the init's rule paths never follow a
symlink, and /app is executable at run time but not writable unless asked."""

import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stockade import native
from stockade.engine import Engine, binds, noexec_dirs
from stockade.runtime import memfd
from tests.containerkit import allowed_dir
from tests.imagekit import ImageSpec, Member, sample_image, write_oci_layout
from tests.integration.helpers import exec_capture, run, start_detached

pytestmark = pytest.mark.integration


def test_a_writable_rule_through_a_symlink_to_root_grants_nothing(tmp_path: Path) -> None:
    init = native.binary("init", tmp_path / "helpers")
    (tmp_path / "tmp").symlink_to("/")  # the image's /tmp is a symlink to /
    (tmp_path / "real").mkdir()
    target = tmp_path / "outside"
    script = f"touch {target} && echo WROTE; touch {tmp_path}/real/ok && echo REAL"
    done = subprocess.run([init, "-e", "-x", "/usr", "-w", str(tmp_path / "tmp"),
                           "-w", str(tmp_path / "real"),
                           "--", "/usr/bin/busybox", "sh", "-c", script],
                          capture_output=True, text=True, check=False, timeout=30)
    assert "WROTE" not in done.stdout and not target.exists()
    assert "REAL" in done.stdout  # a plain directory rule still grants
    assert f"{tmp_path}/tmp holds a symlink: no access granted through it" in done.stderr


def test_app_is_executable_but_not_writable_by_default(engine: Engine) -> None:
    script = "echo x > /app/new && echo WROTE; echo x > /tmp/ok && echo TMP"
    result = run(engine, ["sh", "-c", script], process={"user": "root"})
    assert "WROTE" not in result.out and "TMP" in result.out
    assert "Permission denied" in result.err


def test_app_is_writable_when_asked(engine: Engine) -> None:
    result = run(engine, ["sh", "-c", "echo x > /app/new && echo WROTE"],
                 process={"user": "root"}, writable_paths=["/app"])
    assert "WROTE" in result.out, result.err


MEMFD_TRY = Path(__file__).with_name("memfd_exec.py")


@pytest.mark.skipif(not memfd.available(), reason="vm.memfd_noexec needs Linux 6.3+")
def test_anonymous_memory_files_cannot_be_executed_in_a_container(engine: Engine) -> None:
    name = start_detached(engine, ["sleep", "300"])
    _, out = exec_capture(engine, name, ["cat", "/proc/sys/vm/memfd_noexec"])
    assert out.strip() == "2"
    # the host's python in the container's pid namespace: the setting is the namespace's
    pid = engine.inspect(name).pid
    done = subprocess.run(["nsenter", "-t", str(pid), "-p", "--", sys.executable,
                           str(MEMFD_TRY)], capture_output=True, text=True, check=False,
                          timeout=30)
    lines = dict(line.split() for line in done.stdout.splitlines())
    assert lines == {"exec_flag": str(errno.EACCES), "chmod": str(errno.EPERM),
                     "execveat": str(errno.EACCES)}, done.stdout + done.stderr


# -- writable directories are noexec: neither mmap(PROT_EXEC) nor the loader runs from them

def _loader_kit(directory: Path) -> None:
    """The host's dynamic loader, libc and a dynamic program, for a read-only bind."""
    for source in ("/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/libc.so.6",
                   "/usr/bin/true"):
        shutil.copy(os.path.realpath(source), directory / Path(source).name)
        (directory / Path(source).name).chmod(0o755)


def _through_loader(path: str) -> str:
    return (f"cp /app/kit/true {path}/t && /app/kit/ld-linux-x86-64.so.2 --library-path "
            f"/app/kit {path}/t && echo RAN-{path}; ")


@pytest.mark.skipif(not Path("/lib64/ld-linux-x86-64.so.2").exists(), reason="x86_64 loader")
def test_the_loader_cannot_run_a_program_written_to_a_writable_directory(
        engine: Engine) -> None:
    with allowed_dir() as kit, allowed_dir() as data:
        _loader_kit(kit)
        data.chmod(0o777)
        script = ("/app/kit/ld-linux-x86-64.so.2 --library-path /app/kit /app/kit/true "
                  "&& echo RAN-CONTROL; " + "".join(_through_loader(p) for p in
                                                   ("/tmp", "/var/tmp", "/home", "/data",
                                                    "/app")))
        result = run(engine, ["sh", "-c", script], process={"user": "root"},
                     writable_paths=["/app"],  # /app asked writable: no longer executable
                     mounts=[{"host_path": str(kit), "container_path": "/app/kit",
                              "read_only": True},
                             {"host_path": str(data), "container_path": "/data",
                              "read_only": False}])
    assert "RAN-CONTROL" in result.out, result.err  # the loader itself runs
    assert "RAN-/" not in result.out, result.out
    assert result.err.count("failed to map segment from shared object") == 5, result.err


def test_the_writable_directories_are_mounted_noexec_nosuid_nodev(engine: Engine) -> None:
    script = "awk '{print $5, $6}' /proc/self/mountinfo"
    result = run(engine, ["sh", "-c", script], writable_paths=["/app"])
    options = dict(line.split(" ", 1) for line in result.out.splitlines())
    for path in ("/tmp", "/var/tmp", "/home", "/dev/shm", "/app"):
        assert {"noexec", "nosuid", "nodev"} <= set(options[path].split(",")), (path, options)
    assert "noexec" not in options["/"].split(",")  # the image's programs still run


def test_a_writable_directory_reached_through_a_symlink_is_not_staged(tmp_path: Path) -> None:
    rootfs = tmp_path / "rootfs"
    (rootfs / "home").mkdir(parents=True)
    (rootfs / "tmp").symlink_to("/")
    (rootfs / "var").symlink_to("/var")
    staging = tmp_path / "binds" / "h"
    try:
        staged = noexec_dirs.stage(rootfs, ["/home", "/missing", "/tmp", "/var/tmp"], staging)
        assert [path for path, _ in staged] == ["/home"]
        assert os.statvfs(staged[0][1]).f_flag & os.ST_NOEXEC
    finally:
        binds.unstage(staging)
    assert not staging.exists()


def _image_with(engine: Engine, images_dir: Path, name: str, extra: list[Member],
                drop: str, working_dir: str = "/") -> str:
    spec = sample_image()
    base = [m for m in spec.layers[0] if m.name != drop]
    spec = ImageSpec(layers=[base + extra], working_dir=working_dir)
    engine.import_image(write_oci_layout(spec, images_dir / name), name=name)
    return name


def test_an_image_whose_tmp_is_a_symlink_to_root_gets_no_write_access_to_root(
        engine: Engine, tmp_path: Path) -> None:
    image = _image_with(engine, tmp_path, "tmp-to-root", [Member("tmp", "symlink", target="/")],
                        drop="tmp")
    script = ("echo x > /tmp/planted && echo WROTE-TMP; echo x > /etc/planted && echo WROTE-ETC;"
              " echo x > /planted && echo WROTE-ROOT; echo done")
    result = run(engine, ["sh", "-c", script], image=image, process={"user": "root"})
    assert "done" in result.out, result.err
    assert "WROTE" not in result.out, result.out
    assert "/tmp holds a symlink: no access granted through it" in result.err
