"""The seccomp profile: at least as strict as Docker's, usable by ordinary programs."""

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stockade.oci.seccompcheck import at_least_as_strict
from stockade.policy import build_config
from stockade.policy.exec import exec_process
from stockade.policy.seccomp import (
    DOCKER_DEFAULT_DENIED_X86_64,
    EXTRA_DENIED,
    SOCKETCALL_GUARD_FLAG,
    allowed_syscalls,
    build_seccomp,
)
from stockade.spec import ContainerSpec
from tests.hostkit import make_host
from tests.unit.test_policy import CTX

DEFAULT_CAPS = frozenset(
    {
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_KILL",
    }
)  # fmt: skip
ADD_BACKS = ("CAP_NET_RAW", "CAP_MKNOD", "CAP_SYS_CHROOT", "CAP_SETFCAP", "CAP_AUDIT_WRITE")
# Capabilities Stockade never grants; the filter must not widen even if one slips in.
NEVER_GRANTED = (
    "CAP_SYS_ADMIN", "CAP_SYS_MODULE", "CAP_SYS_BOOT", "CAP_SYS_TIME", "CAP_SYS_PTRACE",
    "CAP_SYS_RAWIO", "CAP_SYS_PACCT", "CAP_SYS_TTY_CONFIG", "CAP_SYSLOG", "CAP_BPF",
    "CAP_PERFMON", "CAP_DAC_READ_SEARCH", "CAP_SYS_RESOURCE", "CAP_NET_ADMIN",
    "CAP_MAC_ADMIN", "CAP_MAC_OVERRIDE", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_LEASE",
    "CAP_LINUX_IMMUTABLE", "CAP_AUDIT_CONTROL", "CAP_AUDIT_READ", "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND", "CAP_CHECKPOINT_RESTORE", "CAP_NET_BROADCAST",
)  # fmt: skip
NUMA_CALLS = frozenset({"get_mempolicy", "mbind", "set_mempolicy"})
ALL_CAPS = (*sorted(DEFAULT_CAPS), *ADD_BACKS, *NEVER_GRANTED, "CAP_SYS_NICE")

# Named in our requirements; several exist only on i386 or other architectures.
MUST_STAY_DENIED = frozenset(
    {
        "mount", "umount", "umount2", "unshare", "setns", "pivot_root", "keyctl",
        "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd", "ptrace",
        "process_vm_readv", "process_vm_writev", "kcmp", "kexec_load", "kexec_file_load",
        "init_module", "finit_module", "delete_module", "reboot", "swapon", "swapoff",
        "settimeofday", "stime", "clock_settime", "clock_settime64", "clock_adjtime",
        "clock_adjtime64", "open_by_handle_at", "name_to_handle_at", "lookup_dcookie",
        "acct", "quotactl", "quotactl_fd", "nfsservctl", "syslog", "vhangup", "iopl",
        "ioperm", "create_module", "get_kernel_syms", "query_module", "uselib", "ustat",
        "sysfs", "_sysctl", "pciconfig_iobase", "pciconfig_read", "pciconfig_write",
        "fanotify_init", "move_pages", "migrate_pages", "set_mempolicy_home_node",
        "io_uring_setup", "io_uring_enter", "io_uring_register", "open_tree",
        "move_mount", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
        "open_tree_attr", "pidfd_getfd", "process_madvise", "clone3", "vm86", "vm86old",
        "modify_ldt", "lsm_set_self_attr", "sethostname", "setdomainname", "listns",
    }
)  # fmt: skip

EVERYDAY = frozenset(
    {
        "read", "write", "openat", "open", "close", "execve", "mmap", "munmap", "mprotect",
        "brk", "futex", "clone", "fork", "vfork", "wait4", "waitid", "exit", "exit_group",
        "statx", "newfstatat", "fstat", "getdents64", "lseek", "ioctl", "fcntl", "dup2",
        "pipe2", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "getpid", "kill",
        "socket", "connect", "bind", "listen", "accept4", "sendto", "recvfrom",
        "poll", "epoll_wait", "select", "nanosleep", "clock_gettime", "getrandom",
        "arch_prctl", "set_tid_address", "set_robust_list", "rseq", "prlimit64",
        "openat2", "faccessat2", "close_range", "epoll_pwait2", "pidfd_open",
        "pidfd_send_signal", "futex_waitv", "cachestat", "map_shadow_stack", "fchmodat2",
        "uname", "getcwd", "chdir", "umask", "setuid", "setgid", "setgroups", "capset",
        "prctl", "seccomp", "personality", "sysinfo", "madvise", "mremap", "sched_yield",
        "getuid", "geteuid", "chown", "fchownat", "unlinkat", "renameat2", "mkdirat",
        "readlinkat", "utimensat", "memfd_create", "eventfd2", "timerfd_create",
        "inotify_init1", "adjtimex", "mknodat", "sendfile", "copy_file_range",
    }
)  # fmt: skip
LANDLOCK = frozenset({"landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self"})

add_back_subsets = st.frozensets(st.sampled_from(ADD_BACKS))
any_caps = st.frozensets(st.sampled_from(ALL_CAPS))


def _rules(caps: frozenset[str] = DEFAULT_CAPS) -> list[dict[str, Any]]:
    rules = build_seccomp(caps)["syscalls"]
    assert isinstance(rules, list)
    return rules


def _rules_for(name: str, caps: frozenset[str] = DEFAULT_CAPS) -> list[dict[str, Any]]:
    return [rule for rule in _rules(caps) if name in rule["names"]]


def _unconditional(caps: frozenset[str] = DEFAULT_CAPS) -> set[str]:
    return {
        name
        for rule in _rules(caps)
        if rule["action"] == "SCMP_ACT_ALLOW" and "args" not in rule
        for name in rule["names"]
    }


def _socket_families(caps: frozenset[str]) -> set[int]:
    return {rule["args"][0]["value"] for rule in _rules_for("socket", caps)}


# --- deny lists ----------------------------------------------------------------------


@pytest.mark.parametrize("add_back", [None, *ADD_BACKS])
def test_docker_and_extra_denials_hold_for_each_add_back(add_back: str | None) -> None:
    caps = DEFAULT_CAPS | ({add_back} if add_back else set())
    assert not allowed_syscalls(caps) & (DOCKER_DEFAULT_DENIED_X86_64 | EXTRA_DENIED)


@given(add_back_subsets)
def test_docker_and_extra_denials_hold_for_any_add_backs(extra: frozenset[str]) -> None:
    denied = DOCKER_DEFAULT_DENIED_X86_64 | EXTRA_DENIED
    assert not allowed_syscalls(DEFAULT_CAPS | extra) & denied


@given(any_caps)
def test_no_capability_unlocks_more_than_chroot_and_numa(caps: frozenset[str]) -> None:
    denied = DOCKER_DEFAULT_DENIED_X86_64 | EXTRA_DENIED | MUST_STAY_DENIED
    leaked = allowed_syscalls(caps) & denied
    expected = NUMA_CALLS if "CAP_SYS_NICE" in caps else frozenset()
    assert leaked == expected


def test_extra_denied_covers_io_uring_and_the_new_mount_api() -> None:
    assert {
        "io_uring_setup", "io_uring_enter", "io_uring_register", "open_tree", "move_mount",
        "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
    } <= EXTRA_DENIED  # fmt: skip


def test_docker_denied_set_is_the_one_we_researched() -> None:
    assert len(DOCKER_DEFAULT_DENIED_X86_64) >= 67
    assert {"mount", "unshare", "setns", "keyctl", "bpf", "kexec_load", "clone3"} <= (
        DOCKER_DEFAULT_DENIED_X86_64
    )
    # Docker gives chroot to its default set through CAP_SYS_CHROOT.
    assert "chroot" not in DOCKER_DEFAULT_DENIED_X86_64


def test_sys_admin_does_not_unlock_mount_unshare_or_setns() -> None:
    allowed = allowed_syscalls(DEFAULT_CAPS | {"CAP_SYS_ADMIN"})
    assert not allowed & {"mount", "umount2", "unshare", "setns", "fsopen", "open_tree"}
    assert allowed == allowed_syscalls(DEFAULT_CAPS)


def test_never_granted_capabilities_do_not_change_the_profile() -> None:
    widened = build_seccomp(DEFAULT_CAPS | frozenset(NEVER_GRANTED))
    assert widened == build_seccomp(DEFAULT_CAPS)


def test_denied_calls_appear_in_no_allow_rule() -> None:
    for caps in (DEFAULT_CAPS, DEFAULT_CAPS | frozenset(ADD_BACKS)):
        for rule in _rules(caps):
            if rule["action"] == "SCMP_ACT_ALLOW":
                assert not set(rule["names"]) & (DOCKER_DEFAULT_DENIED_X86_64 | EXTRA_DENIED)


# --- profile shape -------------------------------------------------------------------


def test_default_action_is_eperm() -> None:
    profile = build_seccomp(DEFAULT_CAPS)
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO"
    assert profile["defaultErrnoRet"] == 1


def test_only_the_x86_64_abi_is_admitted() -> None:
    # i386 (int 0x80) and x32 are left out, so libseccomp kills their callers: through
    # i386's socketcall the socket family filter would not hold (issue 16).
    assert build_seccomp(DEFAULT_CAPS)["architectures"] == ["SCMP_ARCH_X86_64"]


def test_allow_32bit_admits_i386_only_with_the_init_s_socketcall_guard() -> None:
    def compiled(**fields: Any) -> dict[str, Any]:
        return build_config(ContainerSpec(handle="b", **fields), make_host(), CTX)

    def guarded(process: dict[str, Any]) -> bool:
        args = process["args"]
        return SOCKETCALL_GUARD_FLAG in args[:args.index("--")]

    assert build_seccomp(DEFAULT_CAPS, allow_32bit=True)["architectures"] == [
        "SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]  # x32 stays out
    default, wide = compiled(), compiled(allow_32bit=True)
    assert not guarded(default["process"])
    assert wide["linux"]["seccomp"]["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]
    # the init stacks the guard for the application and, through exec mode, for every exec
    assert guarded(wide["process"])
    assert guarded(exec_process(wide["process"], ["id"], {}, terminal=False))
    # the rest of the filter is the same
    assert wide["linux"]["seccomp"]["syscalls"] == default["linux"]["seccomp"]["syscalls"]
    # with no filter at all there is nothing to stack on
    bare = compiled(allow_32bit=True, unsafe={"disable_seccomp": True})
    assert "seccomp" not in bare["linux"] and not guarded(bare["process"])


@pytest.mark.parametrize("arch", ["SCMP_ARCH_X86", "SCMP_ARCH_X32"])
def test_a_foreign_profile_admitting_another_abi_is_not_as_strict(arch: str) -> None:
    # stockade-oci keeps a bundle's own profile only if it is at least as strict: the
    # same rules with i386 listed reopen the socket families through socketcall.
    ours = build_seccomp(DEFAULT_CAPS)
    assert at_least_as_strict(dict(ours), ours)
    assert at_least_as_strict({**ours, "architectures": []}, ours)  # native only
    assert not at_least_as_strict({**ours, "architectures": ["SCMP_ARCH_X86_64", arch]}, ours)


def test_clone_is_allowed_only_without_namespace_flags() -> None:
    namespace_flags = 0x00020000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000
    namespace_flags |= 0x40000000 | 0x02000000
    assert namespace_flags == 2114060288
    [rule] = _rules_for("clone")
    assert rule == {
        "names": ["clone"],
        "action": "SCMP_ACT_ALLOW",
        # For MASKED_EQ runc reads "value" as the mask and "valueTwo" as the datum.
        "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}],
    }


def test_clone3_fails_with_enosys() -> None:
    [rule] = _rules_for("clone3")
    assert rule == {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}
    assert "clone3" not in allowed_syscalls(DEFAULT_CAPS | frozenset(ALL_CAPS))


def test_chroot_needs_sys_chroot() -> None:
    assert "chroot" not in allowed_syscalls(DEFAULT_CAPS)
    assert "chroot" not in _unconditional()
    assert "chroot" in allowed_syscalls(DEFAULT_CAPS | {"CAP_SYS_CHROOT"})
    assert "chroot" in _unconditional(DEFAULT_CAPS | {"CAP_SYS_CHROOT"})


def test_numa_calls_need_sys_nice() -> None:
    assert not allowed_syscalls(DEFAULT_CAPS) & NUMA_CALLS
    assert _unconditional(DEFAULT_CAPS | {"CAP_SYS_NICE"}) >= NUMA_CALLS


def test_landlock_is_allowed() -> None:
    assert allowed_syscalls(DEFAULT_CAPS) >= LANDLOCK
    assert _unconditional() >= LANDLOCK


def test_everyday_syscalls_are_allowed() -> None:
    assert allowed_syscalls(DEFAULT_CAPS) >= EVERYDAY


def test_personality_allows_only_harmless_values() -> None:
    rules = _rules_for("personality")
    assert {rule["args"][0]["value"] for rule in rules} == {0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF}
    assert all(rule["args"][0]["op"] == "SCMP_CMP_EQ" for rule in rules)
    assert "personality" not in _unconditional()


def test_socket_families() -> None:
    assert "socket" not in _unconditional(DEFAULT_CAPS | frozenset(ADD_BACKS))
    assert _socket_families(DEFAULT_CAPS) == {1, 2, 10, 16}
    assert _socket_families(DEFAULT_CAPS | {"CAP_NET_RAW"}) == {1, 2, 10, 16, 17}
    for rule in _rules_for("socket", DEFAULT_CAPS | frozenset(ALL_CAPS)):
        assert rule["args"][0]["op"] == "SCMP_CMP_EQ"
        assert rule["args"][0]["value"] not in {38, 40}  # AF_ALG, AF_VSOCK


@given(any_caps)
def test_no_rule_tests_an_argument_twice(caps: frozenset[str]) -> None:
    # runc ORs conditions that share an argument index, which would widen the rule.
    for rule in _rules(caps):
        indices = [arg["index"] for arg in rule.get("args", [])]
        assert len(indices) == len(set(indices))


@given(any_caps)
def test_rules_agree_with_allowed_syscalls(caps: frozenset[str]) -> None:
    allowed_in_rules = {
        name
        for rule in _rules(caps)
        if rule["action"] == "SCMP_ACT_ALLOW"
        for name in rule["names"]
    }
    assert allowed_in_rules == allowed_syscalls(caps)


def test_unconditional_names_form_one_sorted_rule() -> None:
    plain = [rule for rule in _rules() if "args" not in rule and rule["action"] == "SCMP_ACT_ALLOW"]
    assert len(plain) == 1
    assert plain[0]["names"] == sorted(set(plain[0]["names"]))
    assert len(plain[0]["names"]) > 300


# --- output properties ---------------------------------------------------------------


@given(any_caps)
def test_json_round_trip_and_determinism(caps: frozenset[str]) -> None:
    text = json.dumps(build_seccomp(caps))
    assert json.loads(text) == build_seccomp(caps)
    reordered = frozenset(sorted(caps, reverse=True))
    assert json.dumps(build_seccomp(reordered)) == text


def test_results_are_fresh_objects() -> None:
    first = build_seccomp(DEFAULT_CAPS)
    rules = first["syscalls"]
    assert isinstance(rules, list)
    rules.clear()
    assert build_seccomp(DEFAULT_CAPS)["syscalls"]


def test_unknown_capability_names_change_nothing() -> None:
    assert build_seccomp(DEFAULT_CAPS | {"CAP_NONSENSE", "SYS_CHROOT"}) == build_seccomp(
        DEFAULT_CAPS
    )
