"""Run or exec in the foreground: our stdio becomes the process's, output is logged."""

import contextlib
import os
import sys
from collections.abc import Iterator

from stockade.cli import attach
from stockade.engine import Engine
from stockade.runtime.runc import Stdio
from stockade.spec import ContainerSpec


def run(engine: Engine, spec: ContainerSpec, interactive: bool, remove: bool) -> int:
    """Create, start, stream output, wait; destroy afterwards with --rm, even on failure."""
    try:
        with _console(engine, spec.process.terminal) as console:
            return _run_attached(engine, spec, interactive, console)
    finally:
        if remove:
            with contextlib.suppress(Exception):
                engine.destroy(spec.handle)


def _run_attached(engine: Engine, spec: ContainerSpec, interactive: bool,
                  console: attach.ConsoleListener | None) -> int:
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        with _stdin(interactive) as stdin:
            try:
                engine.create(spec, Stdio(stdin, out_w, err_w),
                              console.path if console else None)
            finally:  # only the container may hold the write ends, or we never see EOF
                os.close(out_w)
                os.close(err_w)
            _start_and_stream(engine, spec.handle, out_r, err_r, console, interactive)
    finally:
        os.close(out_r)
        os.close(err_r)
    status = engine.wait(spec.handle)
    assert status is not None  # no timeout given
    if status.oom_killed:
        print(f"stockade: container {spec.handle} was killed: out of memory", file=sys.stderr)
    return status.exit_code


def _start_and_stream(engine: Engine, handle: str, out_r: int, err_r: int,
                      console: attach.ConsoleListener | None, interactive: bool) -> None:
    sinks = [attach.open_log(path) for path in engine.log_paths(handle)]
    try:
        engine.start(handle)
        _stream(out_r, err_r, sinks, console, interactive)
    except KeyboardInterrupt:
        engine.stop(handle, timeout=2)
    finally:
        for fd in sinks:
            os.close(fd)


def _stream(out_r: int, err_r: int, sinks: list[int], console: attach.ConsoleListener | None,
            interactive: bool) -> None:
    routes = {out_r: [1, sinks[0]], err_r: [2, sinks[1]]}
    if console is None:
        attach.pump(routes)
        return
    master = attach.receive_master(console.listener)
    try:
        with attach.raw_terminal(0):
            attach.pump({**routes, master: [1, sinks[0]]},
                        stdin_to=master if interactive else None)
    finally:
        os.close(master)


def exec_(engine: Engine, handle: str, command: list[str], env: dict[str, str],
          user: str | None, interactive: bool, tty: bool) -> int:
    """Exec with our stdio passed straight through (a pty when -t)."""
    if not tty:
        with _stdin(interactive) as stdin:
            return engine.exec(handle, command, Stdio(stdin, 1, 2), env, user)
    with _console(engine, True) as console:
        assert console is not None
        pid = os.fork()
        if pid == 0:  # the child waits on runc while the parent relays the terminal
            with _stdin(interactive) as stdin:
                code = engine.exec(handle, command, Stdio(stdin, 1, 2), env, user, console.path)
            os._exit(code)
        master = attach.receive_master(console.listener)
        with attach.raw_terminal(0):
            attach.pump({master: [1]}, stdin_to=master if interactive else None)
        os.close(master)
        return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


@contextlib.contextmanager
def _console(engine: Engine, wanted: bool) -> Iterator[attach.ConsoleListener | None]:
    if not wanted:
        yield None
        return
    with attach.console_listener(engine.layout.root) as listener:
        yield listener


@contextlib.contextmanager
def _stdin(interactive: bool) -> Iterator[int]:
    if interactive:
        yield 0
        return
    fd = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    try:
        yield fd
    finally:
        os.close(fd)

