"""No 32-bit or x32 side door (issue 16): from inside real containers, a socket the x86_64
rules refuse cannot be had through int 0x80 socketcall or the x32 ABI."""

import pytest

from stockade.engine import Engine
from stockade.verify import Report, verify_container
from stockade.verify.model import Check, Status
from tests.integration.helpers import start_detached

pytestmark = pytest.mark.integration
ROW = "battery.28"


def _row(report: Report) -> Check:
    return next(c for c in report.checks if c.id == ROW)


def test_a_default_container_is_killed_at_the_32bit_and_x32_entry_points(engine: Engine) -> None:
    name = start_detached(engine, ["sleep", "300"])
    row = _row(verify_container(engine, name))
    assert row.status == Status.PASS, row.observed
    # AF_VSOCK, AF_ALG and AF_PACKET through socketcall, and x32 socket(AF_VSOCK): the
    # filter admits no ABI but x86_64, so the kernel never sees the call
    assert row.observed.count("killed by SIGSYS") == 4, row.observed
    assert engine.inspect(name).state == "running"  # only the probe's children died


def test_without_the_filter_the_same_probe_opens_a_vsock_socket(engine: Engine) -> None:
    # The probe can see an open door: with seccomp off, int 0x80 socketcall(AF_VSOCK)
    # succeeds from inside the container (a socket to the hypervisor on this VM).
    name = start_detached(engine, ["sleep", "300"], unsafe={"disable_seccomp": True})
    row = _row(verify_container(engine, name))
    assert row.status == Status.FAIL
    assert "socketcall(SYS_SOCKET, AF_VSOCK) in a child: ok" in row.observed, row.observed
