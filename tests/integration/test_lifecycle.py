"""Create, start, exec, stop and destroy; failures roll back to nothing."""

import os

import pytest

from stockade.engine import Engine
from stockade.errors import (
    CommandNotFound,
    CommandNotRunnable,
    Conflict,
    InvalidSpec,
    NotFound,
    StockadeError,
)
from tests import containerkit, leaks
from tests.containerkit import allowed_dir
from tests.integration.helpers import exec_capture, run, spec, start_detached

pytestmark = pytest.mark.integration


def _nothing_of(engine: Engine, name: str) -> None:
    """No trace of `name`: state, directory, runc state, cgroup, mounts, processes."""
    assert name not in {c.handle for c in engine.list()}
    assert not engine.layout.container(name).exists()
    assert engine.runc.state(name) is None
    assert not leaks.snapshot(f"{engine.config.cgroup_parent}/{name}").cgroups
    assert not leaks.snapshot(str(engine.layout.container(name))).mounts
    assert not leaks.snapshot(str(engine.layout.container(name))).processes


def test_exit_code_and_output_are_returned(engine: Engine) -> None:
    result = run(engine, ["sh", "-c", "echo out; echo err >&2; exit 7"])
    assert (result.code, result.out, result.err) == (7, "out\n", "err\n")
    assert result.info.state == "stopped" and result.info.exit_code == 7


def test_created_running_stopped_destroyed(engine: Engine) -> None:
    request = spec(["sleep", "300"])
    assert engine.create(request).state == "created"
    assert engine.start(request.handle).state == "running"
    info = engine.inspect(request.handle)
    assert info.pid is not None and os.path.exists(f"/proc/{info.pid}")
    stopped = engine.stop(request.handle, timeout=1)
    assert stopped.state == "stopped" and stopped.exit_code == 143  # TERM reached sleep
    engine.destroy(request.handle)
    _nothing_of(engine, request.handle)


def test_destroy_twice_and_destroy_a_created_container(engine: Engine) -> None:
    request = spec(["true"])
    engine.create(request)
    engine.destroy(request.handle)
    _nothing_of(engine, request.handle)
    with pytest.raises(NotFound):
        engine.destroy(request.handle)


def test_exec_runs_with_the_same_hardening(engine: Engine) -> None:
    name = start_detached(engine, ["sleep", "300"])
    code, out = exec_capture(engine, name, ["sh", "-c", "grep -E 'NoNewPrivs|Seccomp:' "
                                                        "/proc/self/status; id -u; exit 4"])
    assert code == 4
    assert "NoNewPrivs:\t1" in out and "Seccomp:\t2" in out and "2000" in out


def test_detached_output_goes_to_the_logs(engine: Engine) -> None:
    name = start_detached(engine, ["sh", "-c", "echo to-out; echo to-err >&2"])
    assert engine.wait(name, 30) is not None
    assert containerkit.output(engine, name) == (b"to-out\n", b"to-err\n")


def test_a_handle_in_use_is_a_conflict_and_the_first_survives(engine: Engine) -> None:
    name = start_detached(engine, ["sleep", "300"])
    with pytest.raises(Conflict):
        engine.create(spec(["true"], handle=name))
    assert engine.inspect(name).state == "running"


@pytest.mark.parametrize(("fields", "error"), [
    ({"image": "no-such-image"}, NotFound),
    ({"process": {"user": "nobody-here"}}, InvalidSpec),
    ({"mounts": [{"host_path": "/etc", "container_path": "/mnt"}]}, InvalidSpec),
])
def test_failed_create_leaves_nothing(engine: Engine, fields: dict[str, object],
                                      error: type[Exception]) -> None:
    request = spec(["true"], **fields)
    with pytest.raises(error):
        engine.create(request)
    _nothing_of(engine, request.handle)


@pytest.mark.parametrize(("args", "error"), [
    (["/no/such/command"], CommandNotFound), (["no-such-command"], CommandNotFound),
    (["/etc/passwd"], CommandNotRunnable), (["/etc"], CommandNotRunnable),
])
def test_a_command_that_cannot_run_fails_at_create_and_leaves_nothing(
        engine: Engine, args: list[str], error: type[StockadeError]) -> None:
    request = spec(args)
    with pytest.raises(error, match=r"no such file|not found|permission denied"):
        engine.create(request)
    _nothing_of(engine, request.handle)
    # the address was leased before the check ran: it is given back
    assert engine.network.leases.lease(engine.network.scope, request.handle) is None


def test_read_only_and_read_write_bind_mounts(engine: Engine) -> None:
    with allowed_dir() as shared:
        (shared / "hello").write_text("from host\n")
        os.chmod(shared, 0o777)
        mounts = [{"host_path": str(shared), "container_path": "/data"},
                  {"host_path": str(shared), "container_path": "/rw", "read_only": False},
                  {"host_path": str(shared / "hello"), "container_path": "/etc/motd"}]
        script = ("cat /data/hello /etc/motd; touch /data/x || echo RO; "
                  "touch /rw/made && echo RW")
        result = run(engine, ["sh", "-c", script], mounts=mounts)
        assert result.out == "from host\nfrom host\nRO\nRW\n"
        assert (shared / "made").exists()
        assert not (shared / "x").exists()
        assert not engine.layout.binds(result.info.handle).exists()


def test_writes_stay_in_the_containers_own_layer(engine: Engine) -> None:
    first = run(engine, ["sh", "-c", "echo changed > /tmp/motd"], process={"user": "root"})
    assert first.code == 0
    second = run(engine, ["sh", "-c", "cat /tmp/motd 2>/dev/null || echo pristine"])
    assert second.out.strip() == "pristine"


def test_restart_runs_the_container_again_on_the_same_layer(engine: Engine) -> None:
    script = "echo run >> /tmp/runs; cat /tmp/runs | wc -l; hostname; exit 3"
    name = start_detached(engine, ["sh", "-c", script], hostname="again",
                          process={"user": "root"})
    first = engine.wait(name, 30)
    assert first is not None and first.exit_code == 3
    info = engine.restart(name)
    assert info.state in ("running", "stopped")
    second = engine.wait(name, 30)
    assert second is not None and second.exit_code == 3
    out, _ = containerkit.output(engine, name)
    assert out.decode().split() == ["1", "again", "2", "again"]  # the layer kept the file
    events = engine.inspect(name).events
    assert events.count("exited: 3") == 2 and "restarted" in events
    engine.destroy(name)
    assert engine.list() == []


def test_restart_stops_a_running_container_first_and_refuses_rm_ones(engine: Engine) -> None:
    name = start_detached(engine, ["sleep", "600"])
    pid = engine.inspect(name).pid
    info = engine.restart(name, timeout=5)
    assert info.state == "running" and info.pid not in (None, pid)
    engine.destroy(name)
    removed = spec(["true"])
    engine.create(removed, auto_remove=True)
    with pytest.raises(Conflict, match="--rm"):
        engine.restart(removed.handle)
