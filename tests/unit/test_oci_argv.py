"""stockade-oci reads runc's command line exactly as runc would."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stockade.oci.argv import (
    REWRITTEN,
    UsageError,
    command_args,
    command_index,
    global_options,
    replace_value,
)

# What containerd's runc shim (go-runc) sends for a create.
SHIM_CREATE = ["--root", "/run/containerd/runc/k8s.io", "--log",
               "/run/containerd/io.containerd.runtime.v2.task/k8s.io/c1/log.json",
               "--log-format", "json", "--systemd-cgroup", "create", "--bundle",
               "/run/containerd/io.containerd.runtime.v2.task/k8s.io/c1", "--pid-file",
               "/run/containerd/io.containerd.runtime.v2.task/k8s.io/c1/init.pid", "c1"]


def test_finds_the_command_after_global_flags() -> None:
    index = command_index(SHIM_CREATE)
    assert SHIM_CREATE[index] == "create"
    options = global_options(SHIM_CREATE[:index])
    assert options.root == "/run/containerd/runc/k8s.io"
    assert options.log is not None and options.log.endswith("log.json")
    assert options.log_format == "json"
    assert options.systemd_cgroup


def test_reads_bundle_pid_file_and_id() -> None:
    index = command_index(SHIM_CREATE)
    args = command_args("create", SHIM_CREATE[index + 1:], index + 1)
    assert args.last("bundle") == "/run/containerd/io.containerd.runtime.v2.task/k8s.io/c1"
    assert args.positional == ["c1"]


@pytest.mark.parametrize("argv, command", [
    (["state", "c1"], "state"),
    (["--root=/r", "kill", "c1", "KILL"], "kill"),
    (["-root", "/r", "--debug", "delete", "--force", "c1"], "delete"),
    (["--log-format", "json", "--", "events", "c1"], "events"),
    (["--version"], None),
    ([], None),
])
def test_command_word(argv: list[str], command: str | None) -> None:
    index = command_index(argv)
    assert (argv[index] if index < len(argv) else None) == command


def test_only_create_run_and_exec_are_rewritten() -> None:
    assert {"create", "run", "exec"} == REWRITTEN


@pytest.mark.parametrize("args, bundle, positional", [
    (["-b", "/b", "c1"], "/b", ["c1"]),
    (["--bundle=/b", "--no-pivot", "c1"], "/b", ["c1"]),
    (["--console-socket", "/s", "--pid-file", "/p", "c1"], None, ["c1"]),
    (["--detach", "--keep", "-b", "/b", "c1"], "/b", ["c1"]),
    (["--no-new-keyring=false", "--", "c1"], None, ["c1"]),
])
def test_run_flags(args: list[str], bundle: str | None, positional: list[str]) -> None:
    parsed = command_args("run", args)
    assert parsed.last("bundle") == bundle
    assert parsed.positional == positional


def test_unknown_flags_fail_closed() -> None:
    with pytest.raises(UsageError):
        command_args("create", ["--bundel", "/b", "c1"])
    with pytest.raises(UsageError):
        command_args("create", ["--bundle"])
    with pytest.raises(UsageError):
        global_options(["--surprise"])


def test_exec_process_value_can_be_replaced() -> None:
    argv = ["--root", "/r", "exec", "--process", "/tmp/p.json", "--detach", "c1"]
    index = command_index(argv)
    args = command_args("exec", argv[index + 1:], index + 1)
    assert replace_value(argv, args.value_at["process"], "/proc/self/fd/5") == [
        "--root", "/r", "exec", "--process", "/proc/self/fd/5", "--detach", "c1"]
    inline = ["exec", "-p=/tmp/p.json", "c1"]
    args = command_args("exec", inline[1:], 1)
    assert replace_value(inline, args.value_at["process"], "/x") == ["exec", "-p=/x", "c1"]


def test_exec_collects_every_cap_and_the_command() -> None:
    args = command_args("exec", ["--cap", "CAP_NET_RAW", "-c", "SYS_ADMIN", "-t", "c1", "sh",
                                 "-c", "id"])
    assert args.values["cap"] == ["CAP_NET_RAW", "SYS_ADMIN"]
    assert args.bools["tty"] is True
    assert args.positional == ["c1", "sh", "-c", "id"]


_GLOBAL = st.sampled_from([["--debug"], ["--systemd-cgroup"], ["--root", "/r"], ["--root=/r"],
                           ["--log", "/l"], ["-log-format", "json"], ["--criu", "/c"],
                           ["--rootless", "auto"]])
_COMMANDS = st.sampled_from(["create", "start", "state", "kill", "delete", "exec", "ps",
                             "events", "features", "pause", "resume", "update", "spec", "run"])


@given(st.lists(_GLOBAL, max_size=6), _COMMANDS, st.lists(st.sampled_from(["c1", "-a", "x"]),
                                                          max_size=3))
def test_any_global_flags_before_any_command(flags: list[list[str]], command: str,
                                             rest: list[str]) -> None:
    argv = [arg for flag in flags for arg in flag] + [command, *rest]
    index = command_index(argv)
    assert argv[index] == command
    options = global_options(argv[:index])
    if ["--root", "/r"] in flags or ["--root=/r"] in flags:
        assert options.root == "/r"
