"""A default container, checked from inside: every layer of the hardening is in force."""

import os
import re
from pathlib import Path

import pytest

from stockade.engine import Engine
from stockade.policy import DEFAULT_BOUNDING
from tests.integration.helpers import run

pytestmark = pytest.mark.integration

_CAP_BITS = {"CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_FOWNER": 3, "CAP_FSETID": 4,
             "CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8,
             "CAP_NET_BIND_SERVICE": 10}


def _status_field(status: str, name: str) -> str:
    match = re.search(rf"^{name}:\s*(\S+)", status, re.MULTILINE)
    assert match, f"{name} missing from /proc/self/status"
    return match.group(1)


def test_user_namespace_maps_root_to_unprivileged_range(engine: Engine) -> None:
    result = run(engine, ["sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; id -u; id -g"])
    lines = result.out.split("\n")
    for mapping in lines[:2]:
        inside, outside, size = (int(x) for x in mapping.split())
        assert (inside, size) == (0, 65536)
        assert outside == engine.config.id_base and outside != 0
    assert lines[2:4] == ["2000", "2000"]


def test_capabilities_and_no_new_privs(engine: Engine) -> None:
    result = run(engine, ["cat", "/proc/self/status"])
    expected = sum(1 << _CAP_BITS[c] for c in DEFAULT_BOUNDING)
    assert int(_status_field(result.out, "CapBnd"), 16) == expected
    for empty in ("CapEff", "CapPrm", "CapInh", "CapAmb"):
        assert int(_status_field(result.out, empty), 16) == 0
    assert _status_field(result.out, "NoNewPrivs") == "1"
    assert _status_field(result.out, "Seccomp") == "2"


def test_root_inside_holds_only_the_bounding_set(engine: Engine) -> None:
    result = run(engine, ["cat", "/proc/self/status"], process={"user": "root"})
    expected = sum(1 << _CAP_BITS[c] for c in DEFAULT_BOUNDING)
    assert int(_status_field(result.out, "CapEff"), 16) == expected
    assert int(_status_field(result.out, "CapAmb"), 16) == 0


def test_all_seven_namespaces_differ_from_the_host(engine: Engine) -> None:
    kinds = ("pid", "net", "mnt", "uts", "ipc", "user", "cgroup")
    result = run(engine, ["sh", "-c", " ".join(f"readlink /proc/self/ns/{k};" for k in kinds)])
    inside = result.out.split()
    assert len(inside) == len(kinds)
    for kind, link in zip(kinds, inside, strict=True):
        assert link != os.readlink(f"/proc/self/ns/{kind}"), f"{kind} namespace is shared"


def test_pid_one_is_the_container_init_and_host_processes_are_invisible(engine: Engine) -> None:
    result = run(engine, ["sh", "-c", "ls -d /proc/[0-9]* | wc -l; cat /proc/1/cmdline; true"])
    count, cmdline = result.out.split("\n", 1)
    assert int(count) <= 4  # init, sh, ls and the subshell at most
    assert cmdline.startswith("/.stockade/init\0")


def test_dev_holds_only_the_standard_nodes(engine: Engine) -> None:
    result = run(engine, ["ls", "-A", "/dev"])
    assert set(result.out.split()) == {"fd", "full", "mqueue", "null", "ptmx", "pts", "random",
                                        "shm", "stderr", "stdin", "stdout", "tty", "urandom",
                                        "zero"}


def test_masked_paths_are_empty(engine: Engine) -> None:
    script = ("for p in /proc/kcore /proc/keys /proc/timer_list /proc/sched_debug; do "
              "echo \"$p $(head -c 64 $p 2>/dev/null | wc -c)\"; done; "
              "echo \"/sys/firmware $(ls -A /sys/firmware | wc -l)\"")
    result = run(engine, ["sh", "-c", script], process={"user": "root"})
    sizes = dict(line.split() for line in result.out.strip().splitlines())
    assert all(size == "0" for size in sizes.values()), sizes


@pytest.mark.parametrize("path", ["/proc/sys/kernel/core_pattern", "/proc/sysrq-trigger",
                                  "/proc/sys/vm/drop_caches", "/sys/kernel/uevent_helper"])
def test_kernel_control_files_cannot_be_written_even_by_root(engine: Engine, path: str) -> None:
    result = run(engine, ["sh", "-c", f"printf '' > {path} && echo WROTE || echo DENIED"],
                 process={"user": "root"})
    assert "DENIED" in result.out and "WROTE" not in result.out


def test_sys_and_cgroup_fs_are_read_only(engine: Engine) -> None:
    script = "grep -E ' /sys(/fs/cgroup.*)? ' /proc/self/mounts; touch /sys/fs/cgroup/x || echo RO"
    result = run(engine, ["sh", "-c", script], process={"user": "root"})
    effective = {}  # the last mount on a path is the one in force
    for line in result.out.strip().splitlines()[:-1]:
        effective[line.split()[1]] = line.split()[3].split(",")
    assert {"/sys", "/sys/fs/cgroup", "/sys/fs/cgroup/memory"} <= set(effective)
    assert all("ro" in options for options in effective.values()), effective
    assert result.out.strip().endswith("RO")


def test_proc_is_nosuid_noexec_nodev(engine: Engine) -> None:
    result = run(engine, ["sh", "-c", "grep '^proc /proc ' /proc/self/mounts"])
    options = result.out.split()[3].split(",")
    assert {"nosuid", "nodev", "noexec"} <= set(options)


def test_hostname_is_the_handle(engine: Engine) -> None:
    result = run(engine, ["hostname"], handle="named-box")
    assert result.out.strip() == "named-box"


@pytest.mark.parametrize("script", [
    "unshare -U true", "unshare -n true", "mount -t tmpfs none /tmp", "chroot / true",
])
def test_escape_primitives_fail(engine: Engine, script: str) -> None:
    result = run(engine, ["sh", "-c", f"{script} && echo ESCAPED || echo STOPPED"],
                 process={"user": "root"})
    assert "STOPPED" in result.out


def test_block_devices_cannot_be_created(engine: Engine) -> None:
    result = run(engine, ["sh", "-c", "mknod /tmp/sda b 8 0 && echo MADE || echo STOPPED"],
                 process={"user": "root"})
    assert "STOPPED" in result.out


def test_device_cgroup_allows_exactly_the_list(engine: Engine) -> None:
    name = "devlist"
    run(engine, ["true"], keep=True, handle=name)
    rules = (engine_cgroup(engine, "devices", name) / "devices.list").read_text().split("\n")
    allowed = {rule for rule in rules if rule}
    assert allowed == {"c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm",
                       "c 5:0 rwm", "c 5:2 rwm", "c 136:* rwm", "c 4:0 rwm", "c 4:1 rwm",
                       "c 10:229 rwm", "c 10:200 rwm"}


def engine_cgroup(engine: Engine, controller: str, handle: str) -> Path:
    return Path("/sys/fs/cgroup") / controller / engine.config.cgroup_parent / handle
