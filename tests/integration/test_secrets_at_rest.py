"""Secrets at rest: no file under a real daemon's root opens for another host user.

The state database and the bundles hold every container's environment, and the logs hold
what containers print. A daemon runs containers of every kind (an environment secret, an
exec, logs, an exit, events), then an unprivileged host user tries to open each regular
file under the root, for reading and for appending, with coreutils (the venv's python
lives under /root, which that user cannot reach anyway)."""

import json
import os
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from stockade.client import Client
from stockade.spec import ContainerSpec
from tests.daemonkit import Daemon, events

pytestmark = pytest.mark.integration

NOBODY = 65534
SECRET = "hunter2-at-rest"
# prints each argument it could open, for reading or for appending (appending nothing)
_TRY_OPEN = ('for f; do head -c0 -- "$f" 2>/dev/null && echo "read $f"; '
             '( : >> "$f" ) 2>/dev/null && echo "write $f"; done; echo done')


def _spec(handle: str, args: list[str], env: dict[str, str] | None = None,
          **fields: object) -> ContainerSpec:
    return ContainerSpec.model_validate({"handle": handle,
                                         "process": {"args": args, "env": env or {}}, **fields})


def _regular_files(root: Path) -> list[Path]:
    """Every regular file under `root`, walked as root, mounts (rootfs, layers) included."""
    found = []
    for directory, _, names in os.walk(root):
        for name in names:
            path = Path(directory, name)
            if stat.S_ISREG(path.lstat().st_mode):
                found.append(path)
    return found


def _opened_by_nobody(paths: list[Path]) -> list[str]:
    done = subprocess.run(["sh", "-c", _TRY_OPEN, "sh", *map(str, paths)], user=NOBODY,
                          group=NOBODY, extra_groups=[], cwd="/", capture_output=True,
                          text=True, timeout=120, check=True)
    lines = done.stdout.splitlines()
    assert lines[-1:] == ["done"], done
    return lines[:-1]


def _assert_sealed(root: Path) -> list[Path]:
    files = _regular_files(root)
    with tempfile.TemporaryDirectory() as scratch:
        # the control: a file this user may open is reported, so the walk can fail
        control = Path(scratch, "control")
        control.write_text("x")
        control.chmod(0o666)
        Path(scratch).chmod(0o755)
        opened = _opened_by_nobody([control, *files])
    assert opened[:2] == [f"read {control}", f"write {control}"]
    assert opened[2:] == [], f"another host user can open: {opened[2:]}"
    return files


def _populate(daemon: Daemon) -> None:
    """Containers that make every kind of file the daemon keeps."""
    with daemon.client() as client:
        client.create(_spec("sealed", ["sh", "-c", "echo out; echo err >&2; "
                                       "echo private > /tmp/made-inside; "
                                       "chmod 644 /tmp/made-inside; sleep 300"],
                            env={"SECRET": SECRET}))
        result = client.run("sealed", ["sh", "-c", "echo exec-out; echo $SECRET"])
        assert result.stdout == f"exec-out\n{SECRET}\n".encode()
        client.create(_spec("ended", ["sh", "-c", "echo bye; exit 3"],
                            unsafe={"cap_add": ["NET_BIND_SERVICE"]}))  # an events file
        assert events(client, "ended", "exited")[0]["detail"] == "3"
        assert _stdout(client, "sealed").startswith(b"out\n")
        assert _stdout(client, "ended") == b"bye\n"


def _stdout(client: Client, handle: str) -> bytes:
    return b"".join(record.payload() for record in client.logs(handle, stderr=False))


def test_no_file_under_the_root_opens_for_another_host_user(daemon: Daemon) -> None:
    _populate(daemon)
    files = _assert_sealed(daemon.root)
    names = {str(p.relative_to(daemon.root)) for p in files}
    expected = {"state.db", "state.db-wal", "state.db-shm", "runc.log",
                "audit/audit.jsonl", "containers/sealed/bundle/config.json",
                "containers/sealed/ctr.log", "containers/sealed/monitor/pid",
                "containers/sealed/monitor/conmon.pid", "containers/sealed/monitor/conmon.log",
                "containers/sealed/rootfs/tmp/made-inside", "containers/ended/ctr.log",
                "bin/init"}
    assert expected <= names, expected - names
    # the exec's session: its log holds the secret it printed, its spec the environment
    assert {name.rsplit("/", 1)[-1] for name in names
            if name.startswith("containers/sealed/exec/")} >= {"log", "session.json", "pid"}
    config = (daemon.root / "containers/sealed/bundle/config.json").read_text()
    assert SECRET in config  # what the walk proved unreadable does hold the secret


def test_an_older_root_is_repaired_at_start_and_each_repair_audited(daemon: Daemon) -> None:
    _populate(daemon)
    daemon.stop()
    root = daemon.root
    loosened = {root / "state.db": 0o644, root / "runc.log": 0o644,
                root / "containers/sealed/bundle/config.json": 0o644,
                root / "containers/sealed/ctr.log": 0o666,
                root / "containers/sealed": 0o755, root / "containers/sealed/bundle": 0o755,
                root / "images": 0o755, root / "bin/init": 0o755, root / "runc": 0o755}
    for path, mode in loosened.items():
        path.chmod(mode)
    os.chown(root / "containers/sealed/net", -1, 0)
    daemon.start()
    records = json.loads(daemon.audit("--json").stdout)
    repaired = [r["result"] for r in records
                if r["action"] == "reconcile" and r["result"].startswith("repaired ")]
    for path, mode in loosened.items():
        now = stat.S_IMODE(path.stat().st_mode)
        assert now != mode and f"repaired {path}: mode {mode:04o} -> {now:04o}" in repaired
    assert f"repaired {root}/containers/sealed/net: group 0 -> 1000000" in repaired
    assert len(repaired) == len(loosened) + 1
    _assert_sealed(root)
    with daemon.client() as client:  # the running container lost nothing it needs
        assert client.run("sealed", ["cat", "/etc/hosts"]).exit_code == 0
        assert client.run("sealed", ["sh", "-c", "echo $SECRET"]).stdout == \
            f"{SECRET}\n".encode()
