"""The image commands, info and cleanup as a user runs them (JSON for the assertions)."""

import json
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.daemonkit import Daemon
from tests.imagekit import sample_image, write_docker_archive

pytestmark = pytest.mark.integration
SRC = Path(__file__).resolve().parents[2] / "src"
HANDLE = f"cli-{uuid.uuid4().hex[:10]}"  # the CLI's cgroup parent is shared: check ours only


@pytest.fixture
def root(daemon: Daemon) -> Daemon:
    return daemon


def cli(daemon: Daemon, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = daemon.cli(*args, timeout=300)
    if check:
        assert done.returncode == 0, done.stderr
    return done


def test_import_ls_inspect_rm(root: Daemon) -> None:
    archive = write_docker_archive(sample_image(), root.root.with_name(root.root.name + ".tar"))
    try:
        out = json.loads(cli(root, "image", "import", str(archive), "--json").stdout)
    finally:
        archive.unlink()
    assert out["name"] == "test/docker:1"
    listed = json.loads(cli(root, "image", "ls", "--json").stdout)
    assert {i["name"] for i in listed} == {"busybox", "test/docker:1"}
    assert all(i["in_use"] == [] for i in listed)
    shown = json.loads(cli(root, "image", "inspect", "test/docker:1", "--json").stdout)
    assert shown["config"]["working_dir"] == "/app"
    assert "test/docker:1 removed; 2 layers freed" in cli(root, "image", "rm",
                                                          "test/docker:1").stdout
    missing = cli(root, "image", "rm", "test/docker:1", check=False)
    assert missing.returncode == 125 and "no such image" in missing.stderr


def test_bad_input_is_one_clear_line(root: Daemon) -> None:
    bad = cli(root, "image", "import", "/nonexistent/image.tar", check=False)
    assert bad.returncode == 125
    assert bad.stderr.strip().count("\n") == 0 and "no such file" in bad.stderr
    disk = cli(root, "run", "--disk", "lots", "--", "true", check=False)
    assert disk.returncode == 125 and "malformed size" in disk.stderr


def test_run_with_disk_and_info(root: Daemon) -> None:
    info = json.loads(cli(root, "info", "--json").stdout)
    assert info["quota"]["active"] in ("btrfs", "loop", "xfs")
    assert info["quota"]["reason"]
    done = cli(root, "run", "--rm", "--name", HANDLE, "--disk", "16M", "--", "sh", "-c",
               "dd if=/dev/zero of=/tmp/f bs=1M count=64 2>&1; echo done", check=False)
    assert "Disk quota exceeded" in done.stdout or "No space left" in done.stdout, done
    assert json.loads(cli(root, "cleanup", "--json").stdout) == []
