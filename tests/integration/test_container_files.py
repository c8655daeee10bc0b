"""A container plants a FIFO at its own /etc/passwd; `exec --user NAME` through a real
daemon must fail at once with one clear line (the daemon reads that file non-blocking and
as a regular file only), and the daemon must stay responsive."""

import time

import pytest

from stockade.errors import InvalidSpec
from stockade.spec import ContainerSpec
from tests.daemonkit import Daemon

pytestmark = pytest.mark.integration

REFUSAL = "cannot resolve user 'app': /etc/passwd is a FIFO, not a regular file"


@pytest.mark.timeout(120)
def test_a_planted_fifo_fails_exec_user_at_once_and_the_daemon_keeps_serving(
        daemon: Daemon) -> None:
    spec = ContainerSpec.model_validate({
        "handle": "planter", "process": {"args": ["sleep", "300"], "user": "root"},
        "writable_paths": ["/etc"]})
    with daemon.client() as client:
        client.create(spec)
        # (nothing that looks up user names inside: it would block on the FIFO itself)
        planted = client.run("planter", ["sh", "-c", "rm /etc/passwd && mkfifo /etc/passwd "
                                         "&& test -p /etc/passwd && echo planted"])
        assert (planted.exit_code, planted.stdout) == (0, b"planted\n"), planted

        started = time.monotonic()
        refused = daemon.cli("exec", "--user", "app", "planter", "id", timeout=60)
        took = time.monotonic() - started
        assert refused.returncode == 125, refused
        assert refused.stderr.strip().count("\n") == 0 and REFUSAL in refused.stderr
        assert took < 5, f"exec --user took {took:.1f} s"

        started = time.monotonic()
        with pytest.raises(InvalidSpec, match=REFUSAL):
            client.run("planter", ["id"], user="app")
        assert time.monotonic() - started < 5

        # no thread is stuck on the FIFO: the daemon answers, creates and runs processes.
        # (Not in the planter: runc 1.1 itself reads /etc/passwd inside the container on
        # every exec, blocking, so that container has only hurt its own execs.)
        assert client.ping()
        client.create(ContainerSpec.model_validate({
            "handle": "bystander", "process": {"args": ["sleep", "300"]}}))
        assert client.run("bystander", ["echo", "still here"]).stdout == b"still here\n"
        assert sorted(i.handle for i in client.list()) == ["bystander", "planter"]
