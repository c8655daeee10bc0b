"""The systemd unit: containers outlive the daemon, systemd delegates, failures restart."""

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

UNIT = Path(__file__).parents[2] / "packaging" / "stockade.service"


def test_the_unit_keeps_containers_across_daemon_restarts() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    unit.read(UNIT)
    service = unit["Service"]
    assert service["KillMode"] == "process"  # only the daemon, not conmon/runc/containers
    assert service["Delegate"] == "yes"
    assert service["Restart"] == "on-failure"
    assert service["ExecStart"].split()[-1] == "server"  # foreground: logs go to the journal
    assert "--detach" not in service["ExecStart"]
    assert unit["Install"]["WantedBy"] == "multi-user.target"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_accepts_the_unit() -> None:
    done = subprocess.run(["systemd-analyze", "verify", str(UNIT)], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stderr
