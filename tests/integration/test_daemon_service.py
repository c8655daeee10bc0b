"""The daemon as a user starts it: `server --detach` from nothing, a container through it,
`server --stop`; versions and settings from the running daemon; start-up refusals in one
line. These start their own daemon the way the README does, not through daemonkit."""

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from stockade.client import Client
from tests import leaks
from tests.conftest import STATE_BASE
from tests.daemonkit import STOCKADE

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Place:
    root: Path
    marker: str

    @property
    def socket(self) -> Path:
        return self.root.with_name(self.root.name + ".sock")

    @property
    def log(self) -> Path:
        return self.root.with_name(self.root.name + ".log")

    def cli(self, *args: str, root: Path | None = None) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "STOCKADE_CGROUP_PARENT": self.marker, "COLUMNS": "200"}
        env.pop("STOCKADE_SOCKET", None)
        return subprocess.run([STOCKADE, "--socket", str(self.socket), "--root",
                               str(root or self.root), *args], capture_output=True, text=True,
                              env=env, timeout=120, check=False)


@pytest.fixture
def place(session_tag: str) -> Iterator[Place]:
    tag = secrets.token_hex(3)
    here = Place(STATE_BASE / session_tag / f"svc{tag}", f"{session_tag}-svc{tag}")
    here.root.parent.mkdir(parents=True, exist_ok=True)
    before = leaks.snapshot(here.marker)
    try:
        yield here
    finally:  # whatever the test did: no daemon, container or kernel object stays
        with contextlib.suppress(Exception), Client(here.socket) as client:
            if client.available():
                for info in client.list():
                    client.destroy(info.handle)
                client.cleanup()
        here.cli("server", "--stop")
        left = {k: v for k, v in leaks.snapshot(here.marker).leaked_since(before).items()
                if k in leaks.SCOPED}
        still = leaks.snapshot(str(here.root))
        left |= {k: set(v) for k, v in (("mounts", still.mounts),
                                         ("processes", still.processes)) if v}
        shutil.rmtree(here.root, ignore_errors=True)
        for path in (here.socket, here.log):
            path.unlink(missing_ok=True)
        assert not left, f"left behind: {left}"


def test_detach_run_and_stop_from_nothing(place: Place) -> None:
    assert not Client(place.socket).available()
    started = place.cli("server", "--detach", "--log-file", str(place.log))
    assert started.returncode == 0, started.stderr
    assert f"on {place.socket}" in started.stdout and str(place.log) in started.stdout
    pid = int(place.socket.with_suffix(".pid").read_text())
    assert os.getsid(pid) == pid  # its own session: the terminal closing does not stop it

    ran = place.cli("run", "--rm", "--", "sh", "-c", "echo hello from $(hostname)")
    assert (ran.returncode, ran.stdout.startswith("hello from c-")) == (0, True), ran.stderr

    version = json.loads(place.cli("version", "--json").stdout)
    assert version["daemon"]["version"] == version["client"]["version"]
    assert version["daemon"]["runc"] and version["daemon"]["kernel"] == os.uname().release

    shown = json.loads(place.cli("config", "show", "--json").stdout)
    sources = {row["key"]: (row["value"], row["source"]) for row in shown["settings"]}
    assert sources["engine.root"] == (str(place.root), "flag")
    assert sources["engine.cgroup_parent"] == (place.marker, "env STOCKADE_CGROUP_PARENT")
    assert sources["log_file"] == (str(place.log), "flag")

    stopped = place.cli("server", "--stop")
    assert stopped.returncode == 0 and f"daemon {pid} stopped" in stopped.stdout
    assert not Path(f"/proc/{pid}").exists() and not place.socket.exists()
    log = place.log.read_text()
    assert " INFO stockade.daemon: stockade " in log and "stopping" in log
    assert place.log.stat().st_mode & 0o777 == 0o600


def test_a_root_containers_cannot_reach_is_refused_in_one_line(place: Place) -> None:
    private = Path(tempfile.mkdtemp(prefix="stockade-private-"))  # 0700, like mktemp -d
    try:
        refused = place.cli("server", "--detach", "--log-file", str(place.log),
                            root=private / "root")
        assert refused.returncode == 125
        line = refused.stderr.strip()
        assert "\n" not in line and f"chmod o+x {private}" in line, line
        assert f"{private} (mode 0700" in line
        assert not place.socket.with_suffix(".pid").exists()
        assert not Client(place.socket).available()
    finally:
        shutil.rmtree(private)


def test_a_bad_setting_is_refused_before_anything_starts(place: Place,
                                                         tmp_path: Path) -> None:
    bad = tmp_path / "stockade.toml"
    bad.write_text("[engine]\nid_base = 12\n")
    for mode in ([], ["--detach"]):
        refused = place.cli("server", "--config", str(bad), *mode)
        assert refused.returncode == 125
        assert refused.stderr.strip() == (
            f"stockade: error: invalid setting engine.id_base (from file {bad}): "
            "Input should be greater than or equal to 65536")
        assert not place.socket.exists()
