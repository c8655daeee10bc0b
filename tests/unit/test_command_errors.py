"""A command that cannot be run (issue 18, item 4): found in the tree as the init's execvp
will look, raised as its own class, carried across the API by kind, and turned into docker's
exit code (127 not found, 126 not runnable, 125 any other platform error) with one line."""

import os
import re
from pathlib import Path

import pytest

from stockade.api.errors import body, classify
from stockade.cli import main
from stockade.client.errors import from_body
from stockade.errors import (
    WIRE_KINDS,
    WIRE_SUBKINDS,
    CommandNotFound,
    CommandNotRunnable,
    InvalidSpec,
    NotFound,
    StockadeError,
)
from stockade.images.commands import require_command
from stockade.wire import stream
from tests.unit.clikit import invoke

SEARCH = "/usr/local/bin:/usr/bin:/bin"


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    """A small tree: /bin/sh runnable, /etc/passwd not, /bin/link -> sh, /usr/bin/plain
    without an execute bit, and /escape -> a runnable file outside the tree."""
    root = tmp_path / "rootfs"
    for directory in ("bin", "etc", "usr/bin", "app"):
        (root / directory).mkdir(parents=True)
    (root / "bin/sh").write_text("#!/bin/sh\n")
    (root / "bin/sh").chmod(0o755)
    (root / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    (root / "usr/bin/plain").write_text("data")
    (root / "usr/bin/plain").chmod(0o644)
    (root / "app/run").write_text("#!/bin/sh\n")
    (root / "app/run").chmod(0o700)
    os.symlink("sh", root / "bin/link")
    outside = tmp_path / "outside"
    outside.write_text("#!/bin/sh\n")
    outside.chmod(0o755)
    os.symlink(str(outside), root / "escape")  # absolute: resolves to /outside in the tree
    os.symlink("../../outside", root / "app/up")  # '..' stops at the tree's root
    return root


@pytest.mark.parametrize(("program", "cwd"), [
    ("sh", "/"), ("/bin/sh", "/"), ("link", "/"), ("/bin/link", "/"), ("./run", "/app"),
    ("app/run", "/"), ("../bin/sh", "/app")])
def test_a_runnable_command_passes(rootfs: Path, program: str, cwd: str) -> None:
    require_command(rootfs, program, SEARCH, cwd)


@pytest.mark.parametrize(("program", "shown"), [
    ("no-such-cmd", "executable file not found in $PATH"),
    ("/no/such/cmd", "no such file or directory"),
    ("/etc/passwd/x", "no such file or directory"),  # ENOTDIR: execve's ENOENT family
    ("/escape", "no such file or directory"),  # the link leads out: never followed there
    ("/app/up", "no such file or directory"),
])
def test_a_missing_command_is_command_not_found(rootfs: Path, program: str,
                                                shown: str) -> None:
    with pytest.raises(CommandNotFound, match=re.escape(shown)) as raised:
        require_command(rootfs, program, SEARCH, "/")
    assert "\n" not in str(raised.value) and repr(program) in str(raised.value)


@pytest.mark.parametrize(("program", "shown"), [
    ("/etc/passwd", "not executable"), ("/etc", "directory"), ("/app/", "directory"),
    ("plain", "not an executable file"),  # execvp: EACCES on a candidate, none runnable
])
def test_an_unrunnable_command_is_command_not_runnable(rootfs: Path, program: str,
                                                       shown: str) -> None:
    with pytest.raises(CommandNotRunnable, match=shown) as raised:
        require_command(rootfs, program, SEARCH, "/")
    assert "\n" not in str(raised.value) and "permission denied" in str(raised.value)


def test_the_search_path_is_the_containers(rootfs: Path) -> None:
    require_command(rootfs, "run", "/app", "/")
    with pytest.raises(CommandNotFound, match=r"\(/usr/local/bin\)"):
        require_command(rootfs, "sh", "/usr/local/bin", "/")
    require_command(rootfs, "run", "", "/app")  # an empty PATH is the working directory


def test_a_runnable_candidate_later_in_the_path_wins_over_a_refused_one(rootfs: Path) -> None:
    (rootfs / "bin/plain").write_text("#!/bin/sh\n")
    (rootfs / "bin/plain").chmod(0o755)
    require_command(rootfs, "plain", SEARCH, "/")


def test_paths_under_a_mount_are_left_to_the_init(rootfs: Path) -> None:
    """A bind is not mounted when a create checks: what lies under it is the init's to judge."""
    require_command(rootfs, "/tools/x", SEARCH, "/", mounted=["/tools"])
    require_command(rootfs, "x", "/tools:/bin", "/", mounted=["/tools/"])
    with pytest.raises(CommandNotFound):
        require_command(rootfs, "/toolshed/x", SEARCH, "/", mounted=["/tools"])


# -- across the wire -----------------------------------------------------------------------

@pytest.mark.parametrize(("cls", "kind"), WIRE_SUBKINDS)
def test_a_command_error_crosses_the_api_as_its_own_kind(cls: type[StockadeError],
                                                         kind: str) -> None:
    sent_kind, status = classify(cls("command not found in the container: 'x'"))
    assert (sent_kind, status) == (kind, 422)  # InvalidSpec's status: the request's fault
    again = from_body(status, body(sent_kind, "command not found in the container: 'x'"))
    assert type(again) is cls and isinstance(again, InvalidSpec)
    assert str(again) == "command not found in the container: 'x'"


def test_an_unknown_kind_from_a_newer_daemon_is_still_a_platform_error() -> None:
    assert type(from_body(422, body("command_vanished", "gone"))) is StockadeError


def test_a_stream_close_code_still_maps_back_to_one_class_per_status() -> None:
    """The close code carries only the status: the refined kinds must not capture it."""
    assert all(cls not in {c for c, _, _ in WIRE_KINDS} for cls, _ in WIRE_SUBKINDS)
    assert type(stream.error_for_close(stream.CLOSE_BAD_REQUEST, "bad")) is InvalidSpec


# -- the exit code -------------------------------------------------------------------------

@pytest.mark.parametrize(("error", "code"), [
    (CommandNotFound("command not found in the container: 'x'"), 127),
    (CommandNotRunnable("command cannot be run in the container: '/etc'"), 126),
    (InvalidSpec("bad flag"), 125), (NotFound("no container nope"), 125),
    (StockadeError("runc failed"), 125)])
def test_the_cli_exits_as_docker_with_one_line(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str],
                                               error: StockadeError, code: int) -> None:
    def fail(argv: object) -> int:
        raise error

    monkeypatch.setattr(main, "run", fail)
    assert main.exit_code(error) == code
    exited, out, err = invoke(capsys, "start", "x")
    assert (exited, out, err) == (code, "", f"stockade: error: {error}\n")
