"""Mounts and paths (issue 16 part 5), from a real container and the host's side of it."""

import json
import os
import subprocess
from pathlib import Path

import pytest

from stockade.engine import Engine
from tests.daemonkit import Daemon
from tests.integration.helpers import run

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
    finally:
        engine.destroy(result.info.handle)


def test_info_shows_the_runc_minimum_and_this_hosts_standing(daemon: Daemon) -> None:
    data = json.loads(daemon.cli("info", "--json").stdout)
    assert data["runc_minimum"]["available"]  # this daemon started, so its runc passed
    assert "1.1.12" in data["runc_minimum"]["detail"]
    text = daemon.cli("info", "--no-trunc").stdout
    assert "runc minimum" in text and "CVE-2024-21626" in text
