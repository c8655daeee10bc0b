"""The seccomp filter for Stockade's hardened default container.

The result is the ``linux.seccomp`` object of an OCI runtime config (runtime-spec
1.0.2, as runc 1.1 with libseccomp 2.5 reads it). It is an allowlist: anything not
named below fails with EPERM. Only the x86_64 ABI is admitted: a call through the i386
(int 0x80) or x32 entry points kills the caller with SIGSYS, libseccomp's action for an
architecture the filter does not list (runc 1.1 leaves it at that default; the OCI
profile has no field for it). Names are resolved by libseccomp separately for each
architecture; a name it does not know for one is skipped by runc.

Two runc behaviours shape how the rules are written:

* Within one rule object, several conditions on the *same* argument index are not
  ANDed: runc 1.1 turns each into a rule of its own, so they are ORed. Every rule here
  therefore tests each argument at most once; alternatives get separate rule objects.
* On i386, libseccomp turns every allowed socket or SysV IPC call into a rule on the
  socketcall(2)/ipc(2) multiplexer for that sub-call as well. Argument conditions can
  not follow it there (the real arguments sit in memory), so on i386 the socket family
  filter below would only bind the direct socket(2) entry point: int 0x80
  socketcall(SYS_SOCKET, AF_VSOCK) opened a socket to the hypervisor. A rule refusing
  that sub-call does not help either: libseccomp keeps the allow it generated for the
  same condition. Hence no i386 (nor x32) by default. A spec with allow_32bit admits
  i386, and the container init then stacks a filter of its own that refuses those two
  socketcall sub-calls (socketcall_guard_args).
"""

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

_EPERM: Final = 1
_ENOSYS: Final = 38

# i386 and x32 programs enter the same kernel through syscall tables of their own, where
# the family filter cannot follow socket(2) (above). Left out, they meet libseccomp's
# bad-architecture action: the thread is killed with SIGSYS.
ARCHITECTURES: Final[tuple[str, ...]] = ("SCMP_ARCH_X86_64",)
# allow_32bit: i386 as well. x32 stays out; no distribution ships programs for it.
ARCHITECTURES_WITH_I386: Final[tuple[str, ...]] = (*ARCHITECTURES, "SCMP_ARCH_X86")
# The init's flag for its stacked filter: on i386, socketcall(SYS_SOCKET) and
# socketcall(SYS_SOCKETPAIR) fail with EPERM, so every socket a 32-bit program opens goes
# through the direct socket(2) call, where the family rules below hold.
SOCKETCALL_GUARD_FLAG: Final = "-S"

# --- Unconditionally allowed -----------------------------------------------------------

_FILE_IO: Final = frozenset(
    {
        "close", "close_range", "copy_file_range", "creat", "dup", "dup2", "dup3",
        "fadvise64", "fallocate", "fcntl", "fdatasync", "flock", "fsync", "ftruncate",
        "ioctl", "lseek", "open", "openat", "openat2", "pipe", "pipe2", "pread64",
        "preadv", "preadv2", "pwrite64", "pwritev", "pwritev2", "read", "readahead",
        "readv", "sendfile", "splice", "sync", "sync_file_range", "syncfs", "tee",
        "truncate", "vmsplice", "write", "writev",
    }
)  # fmt: skip

_EVENTS: Final = frozenset(
    {
        "epoll_create", "epoll_create1", "epoll_ctl", "epoll_pwait", "epoll_pwait2",
        "epoll_wait", "eventfd", "eventfd2", "inotify_add_watch", "inotify_init",
        "inotify_init1", "inotify_rm_watch", "io_cancel", "io_destroy", "io_getevents",
        "io_pgetevents", "io_setup", "io_submit", "poll", "ppoll", "pselect6", "select",
        "signalfd", "signalfd4", "timerfd_create", "timerfd_gettime", "timerfd_settime",
    }
)  # fmt: skip

# mknod stays: the kernel itself demands CAP_MKNOD for device nodes, and mkfifo needs it.
_PATHS: Final = frozenset(
    {
        "access", "chdir", "faccessat", "faccessat2", "fchdir", "fstat", "fstatfs",
        "futimesat", "getcwd", "getdents", "getdents64", "link", "linkat", "lstat",
        "mkdir", "mkdirat", "mknod", "mknodat", "newfstatat", "readlink", "readlinkat",
        "rename", "renameat", "renameat2", "rmdir", "stat", "statfs", "statx", "symlink",
        "symlinkat", "umask", "unlink", "unlinkat", "utime", "utimensat", "utimes",
    }
)  # fmt: skip

# statmount/listmount only read the caller's own mount namespace, like mountinfo does.
_FILE_ATTRIBUTES: Final = frozenset(
    {
        "cachestat", "chmod", "chown", "fchmod", "fchmodat", "fchmodat2", "fchown",
        "fchownat", "fgetxattr", "flistxattr", "fremovexattr", "fsetxattr", "getxattr",
        "getxattrat", "lchown", "lgetxattr", "listmount", "listxattr", "listxattrat",
        "llistxattr", "lremovexattr", "lsetxattr", "removexattr", "removexattrat",
        "setxattr", "setxattrat", "statmount",
    }
)  # fmt: skip

_MEMORY: Final = frozenset(
    {
        "brk", "madvise", "map_shadow_stack", "membarrier", "memfd_create",
        "memfd_secret", "mincore", "mlock", "mlock2", "mlockall", "mmap", "mprotect",
        "mremap", "mseal", "msync", "munlock", "munlockall", "munmap", "pkey_alloc",
        "pkey_free", "pkey_mprotect", "process_mrelease", "remap_file_pages",
    }
)  # fmt: skip

# clone is absent on purpose: it is allowed only through its argument-filtered rule.
# uretprobe is entered by kernel-installed trampolines, never by application code.
_PROCESSES: Final = frozenset(
    {
        "arch_prctl", "capget", "capset", "execve", "execveat", "exit", "exit_group",
        "fork", "futex", "futex_requeue", "futex_wait", "futex_waitv", "futex_wake",
        "get_robust_list", "get_thread_area", "getcpu", "getpgid", "getpgrp", "getpid",
        "getppid", "getrandom", "getrlimit", "getrusage", "getsid", "gettid", "kill",
        "pidfd_open", "pidfd_send_signal", "prctl", "prlimit64", "restart_syscall",
        "rseq", "set_robust_list", "set_thread_area", "set_tid_address", "setpgid",
        "setrlimit", "setsid", "sysinfo", "tgkill", "tkill", "uname", "uretprobe",
        "vfork", "wait4", "waitid",
    }
)  # fmt: skip

_CREDENTIALS: Final = frozenset(
    {
        "getegid", "geteuid", "getgid", "getgroups", "getresgid", "getresuid", "getuid",
        "setfsgid", "setfsuid", "setgid", "setgroups", "setregid", "setresgid",
        "setresuid", "setreuid", "setuid",
    }
)  # fmt: skip

_SIGNALS: Final = frozenset(
    {
        "alarm", "getitimer", "pause", "rt_sigaction", "rt_sigpending", "rt_sigprocmask",
        "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
        "rt_tgsigqueueinfo", "setitimer", "sigaltstack",
    }
)  # fmt: skip

# adjtimex stays: with any mode bit set the kernel demands CAP_SYS_TIME in the initial
# user namespace, which a container never holds, so for us it can only read the clock
# state. clock_adjtime is refused although it is the same call for CLOCK_REALTIME: it
# also reaches dynamic (PTP) clocks and, on new kernels, auxiliary clocks; glibc's
# ntp_gettime() and adjtimex() wrappers, which use it, lose only a read-only query.
_TIME: Final = frozenset(
    {
        "adjtimex", "clock_getres", "clock_gettime", "clock_nanosleep", "gettimeofday",
        "nanosleep", "time", "timer_create", "timer_delete", "timer_getoverrun",
        "timer_gettime", "timer_settime", "times",
    }
)  # fmt: skip

# Raising priority or choosing a realtime policy is checked by the kernel against
# CAP_SYS_NICE, which is never in our bounding set.
_SCHEDULING: Final = frozenset(
    {
        "getpriority", "ioprio_get", "ioprio_set", "sched_get_priority_max",
        "sched_get_priority_min", "sched_getaffinity", "sched_getattr", "sched_getparam",
        "sched_getscheduler", "sched_rr_get_interval", "sched_setaffinity",
        "sched_setattr", "sched_setparam", "sched_setscheduler", "sched_yield",
        "setpriority",
    }
)  # fmt: skip

# These objects live in the container's own IPC namespace.
_IPC: Final = frozenset(
    {
        "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive", "mq_timedsend",
        "mq_unlink", "msgctl", "msgget", "msgrcv", "msgsnd", "semctl", "semget", "semop",
        "semtimedop", "shmat", "shmctl", "shmdt", "shmget",
    }
)  # fmt: skip

# socket(2) itself is argument-filtered below. send and recv exist only as i386
# socketcall sub-calls.
_NETWORK: Final = frozenset(
    {
        "accept", "accept4", "bind", "connect", "getpeername", "getsockname",
        "getsockopt", "listen", "recv", "recvfrom", "recvmmsg", "recvmsg", "send",
        "sendmmsg", "sendmsg", "sendto", "setsockopt", "shutdown", "socketpair",
    }
)  # fmt: skip

# Our init confines itself with Landlock inside the container; programs may stack
# further seccomp filters of their own (they can only narrow what is allowed).
_SELF_CONFINEMENT: Final = frozenset(
    {"landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self", "seccomp"}
)

# Names that exist only in the i386 ABI: 32-bit-uid and large-file variants, the old
# signal calls, and the 64-bit-time twins of calls allowed above.
_I386_VARIANTS: Final = frozenset(
    {
        "_llseek", "_newselect", "chown32", "clock_getres_time64", "clock_gettime64",
        "clock_nanosleep_time64", "fadvise64_64", "fchown32", "fcntl64", "fstat64",
        "fstatat64", "fstatfs64", "ftruncate64", "futex_time64", "getegid32",
        "geteuid32", "getgid32", "getgroups32", "getresgid32", "getresuid32",
        "getuid32", "io_pgetevents_time64", "lchown32", "lstat64", "mmap2",
        "mq_timedreceive_time64", "mq_timedsend_time64", "ppoll_time64",
        "pselect6_time64", "recvmmsg_time64", "rt_sigtimedwait_time64",
        "sched_rr_get_interval_time64", "semtimedop_time64", "sendfile64", "setfsgid32",
        "setfsuid32", "setgid32", "setgroups32", "setregid32", "setresgid32",
        "setresuid32", "setreuid32", "setuid32", "sigprocmask", "sigreturn", "stat64",
        "statfs64", "timer_gettime64", "timer_settime64", "timerfd_gettime64",
        "timerfd_settime64", "truncate64", "ugetrlimit", "utimensat_time64", "waitpid",
    }
)  # fmt: skip

_ALWAYS_ALLOWED: Final = (
    _FILE_IO | _EVENTS | _PATHS | _FILE_ATTRIBUTES | _MEMORY | _PROCESSES | _CREDENTIALS
    | _SIGNALS | _TIME | _SCHEDULING | _IPC | _NETWORK | _SELF_CONFINEMENT | _I386_VARIANTS
)  # fmt: skip

# --- Allowed only with a capability ---------------------------------------------------

# Only these capability-gated groups follow the bounding set. The groups Docker ties to
# CAP_SYS_ADMIN (mount, unshare, setns, bpf, ...), CAP_SYS_MODULE, CAP_SYS_BOOT,
# CAP_SYS_TIME, CAP_SYS_PTRACE, CAP_SYS_RAWIO, CAP_SYS_PACCT, CAP_SYS_TTY_CONFIG,
# CAP_SYSLOG, CAP_BPF, CAP_PERFMON and CAP_DAC_READ_SEARCH (open_by_handle_at) stay
# denied even if such a capability is passed: Stockade never grants them, and a
# filter that widened with a mistaken bounding set would fail open.
_CAPABILITY_GATED: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {
        "CAP_SYS_CHROOT": frozenset({"chroot"}),
        # NUMA placement of one's own memory. Not offered even then:
        # set_mempolicy_home_node (EXTRA_DENIED) and move_pages, which can move
        # other processes' pages.
        "CAP_SYS_NICE": frozenset({"get_mempolicy", "mbind", "set_mempolicy"}),
    }
)

# --- Allowed only with particular arguments -------------------------------------------

# Namespace creation through clone(2) is the one flag group that must not pass; the
# same operation through unshare(2) and setns(2) is denied outright. CLONE_NEWTIME
# (0x80) is missing on purpose: clone(2) reads those bits as the exit signal, so only
# clone3 and unshare can ask for it, and both are refused.
_CLONE_NEWNS: Final = 0x00020000
_CLONE_NEWCGROUP: Final = 0x02000000
_CLONE_NEWUTS: Final = 0x04000000
_CLONE_NEWIPC: Final = 0x08000000
_CLONE_NEWUSER: Final = 0x10000000
_CLONE_NEWPID: Final = 0x20000000
_CLONE_NEWNET: Final = 0x40000000
CLONE_NAMESPACE_FLAGS: Final = (
    _CLONE_NEWNS | _CLONE_NEWCGROUP | _CLONE_NEWUTS | _CLONE_NEWIPC | _CLONE_NEWUSER
    | _CLONE_NEWPID | _CLONE_NEWNET
)  # fmt: skip

# personality(2) values that change nothing security-relevant: PER_LINUX, PER_LINUX32,
# UNAME26, UNAME26|PER_LINUX32, and 0xffffffff, which only queries. ADDR_NO_RANDOMIZE
# and READ_IMPLIES_EXEC are thereby refused.
PERSONALITY_VALUES: Final[tuple[int, ...]] = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)

_AF_UNIX: Final = 1
_AF_INET: Final = 2
_AF_INET6: Final = 10
_AF_NETLINK: Final = 16
_AF_PACKET: Final = 17

# Networking needs socket(2), but each protocol family is kernel code that an
# unprivileged socket() call reaches, often by autoloading a module, and the rarely
# used ones (TIPC, RDS, CAN, X.25, ROSE, RxRPC, KCM, SMC, ...) have a long record of
# exploitable bugs. Docker already refuses a handful (AF_VSOCK and AF_ALG among them);
# we allow only what ordinary programs use: local sockets, IPv4, IPv6 and netlink
# (glibc's getaddrinfo and `ip` talk to the kernel over it). AF_VSOCK stays refused
# because it reaches the hypervisor's host side when there is one.
SOCKET_FAMILIES: Final[tuple[int, ...]] = (_AF_UNIX, _AF_INET, _AF_INET6, _AF_NETLINK)

# Raw IP sockets are stopped by the kernel's own CAP_NET_RAW check, which a default
# container fails. Packet sockets need the same capability, so the family is only
# offered when CAP_NET_RAW has been added back.
_CAPABILITY_GATED_FAMILIES: Final[Mapping[str, tuple[int, ...]]] = MappingProxyType(
    {"CAP_NET_RAW": (_AF_PACKET,)}
)

_ARGUMENT_FILTERED: Final = frozenset({"clone", "personality", "socket"})

# --- Deny lists, used by tests to prove the allowlist is tight enough -----------------

# What Docker's default profile (moby/profiles seccomp/default.json) leaves denied on
# x86_64 with Docker's default 14 capabilities, through Linux 6.19's syscall table;
# used by tests to prove we are at least as strict.
DOCKER_DEFAULT_DENIED_X86_64: Final = frozenset(
    {
        "_sysctl", "acct", "add_key", "afs_syscall", "bpf", "clock_settime", "clone3",
        "create_module", "delete_module", "fanotify_init", "file_getattr",
        "file_setattr", "finit_module", "fsconfig", "fsmount", "fsopen", "fspick",
        "get_kernel_syms", "get_mempolicy", "getpmsg", "init_module", "io_uring_enter",
        "io_uring_register", "io_uring_setup", "ioperm", "iopl", "kcmp",
        "kexec_file_load", "kexec_load", "keyctl", "listns", "lookup_dcookie",
        "lsm_get_self_attr", "lsm_list_modules", "lsm_set_self_attr", "mbind",
        "migrate_pages", "mount", "mount_setattr", "move_mount", "move_pages",
        "nfsservctl", "open_by_handle_at", "open_tree", "open_tree_attr",
        "perf_event_open", "pidfd_getfd", "pivot_root", "process_madvise", "putpmsg",
        "query_module", "quotactl", "quotactl_fd", "reboot", "request_key", "security",
        "set_mempolicy", "set_mempolicy_home_node", "setdomainname", "sethostname",
        "setns", "settimeofday", "swapoff", "swapon", "sysfs", "syslog", "tuxcall",
        "umount2", "unshare", "uprobe", "uselib", "userfaultfd", "ustat", "vhangup",
        "vserver",
    }
)  # fmt: skip

# What we refuse whatever capabilities are passed, on top of the set above. Docker's
# default profile allows the names marked *; the others it allows only with some
# capability, or not at all, and they are listed so they stay off in every case.
EXTRA_DENIED: Final = frozenset(
    {
        # io_uring runs file and socket operations from kernel workers, out of reach
        # of this very filter, and has been a steady source of kernel exploits.
        "io_uring_enter", "io_uring_register", "io_uring_setup",
        # The fd-based mount API: mounting by another door (Docker: CAP_SYS_ADMIN).
        "fsconfig", "fsmount", "fsopen", "fspick", "mount_setattr", "move_mount",
        "open_tree", "open_tree_attr",
        # * Reading and writing other processes' memory: nothing in a container needs
        # a debugger, and processes exec'd into it later would be fair game.
        "process_vm_readv", "process_vm_writev", "ptrace",
        # * Handle lookup is the first half of the open_by_handle_at escape.
        "name_to_handle_at",
        # * See the note above _TIME.
        "clock_adjtime", "clock_adjtime64",
        # * Per-process segment descriptors: a long line of kernel bugs, and wanted
        # only by Wine and DOS emulators.
        "modify_ldt",
        # * Without fanotify_init (denied) there is no descriptor to mark.
        "fanotify_mark",
        # * Never implemented on x86_64; they can only fail.
        "epoll_ctl_old", "epoll_wait_old",
        # * Whole i386 multiplexers: libseccomp already admits each allowed socket and
        # SysV IPC sub-call; a blanket rule would admit the others as well.
        "ipc", "socketcall",
        # The newest NUMA call, which nothing ordinary uses; unlike its older
        # siblings it is not offered even with CAP_SYS_NICE.
        "set_mempolicy_home_node",
    }
)  # fmt: skip


def _granted(capabilities: frozenset[str]) -> frozenset[str]:
    """Capability-gated names that `capabilities` unlocks."""
    names = (_CAPABILITY_GATED[cap] for cap in sorted(capabilities & _CAPABILITY_GATED.keys()))
    return frozenset().union(*names)


def _socket_families(capabilities: frozenset[str]) -> tuple[int, ...]:
    extra = (
        family
        for cap in sorted(capabilities & _CAPABILITY_GATED_FAMILIES.keys())
        for family in _CAPABILITY_GATED_FAMILIES[cap]
    )
    return tuple(sorted({*SOCKET_FAMILIES, *extra}))


def allowed_syscalls(capabilities: frozenset[str]) -> frozenset[str]:
    """Names of syscalls allowed unconditionally or with argument filters."""
    return _ALWAYS_ALLOWED | _granted(capabilities) | _ARGUMENT_FILTERED


def _rule_on_arg(
    name: str, index: int, op: str, value: int, value_two: int = 0
) -> dict[str, object]:
    condition = {"index": index, "value": value, "valueTwo": value_two, "op": op}
    return {"names": [name], "action": "SCMP_ACT_ALLOW", "args": [condition]}


def _clone_rule() -> dict[str, object]:
    # For SCMP_CMP_MASKED_EQ the OCI "value" is the mask and "valueTwo" the datum:
    # allowed when (flags & CLONE_NAMESPACE_FLAGS) == 0.
    return _rule_on_arg("clone", 0, "SCMP_CMP_MASKED_EQ", CLONE_NAMESPACE_FLAGS, 0)


def _clone3_rule() -> dict[str, object]:
    # Its flags sit in a struct in memory, out of the filter's sight. ENOSYS rather than
    # EPERM makes glibc and musl fall back to clone(2), whose flags we can check.
    return {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": _ENOSYS}


def _personality_rules() -> list[dict[str, object]]:
    return [_rule_on_arg("personality", 0, "SCMP_CMP_EQ", v) for v in PERSONALITY_VALUES]


def _socket_rules(capabilities: frozenset[str]) -> list[dict[str, object]]:
    families = _socket_families(capabilities)
    return [_rule_on_arg("socket", 0, "SCMP_CMP_EQ", family) for family in families]


def socketcall_guard_args(allow_32bit: bool, seccomp_on: bool) -> list[str]:
    """The init's arguments for the socketcall guard: where i386 is admitted and a filter
    is in force (under disable_seccomp there is none to stack on)."""
    return [SOCKETCALL_GUARD_FLAG] if allow_32bit and seccomp_on else []


def build_seccomp(capabilities: frozenset[str], allow_32bit: bool = False) -> dict[str, object]:
    """The OCI linux.seccomp object.

    `capabilities` is the container's bounding set, names like "CAP_CHOWN". Syscalls
    gated on a capability are allowed only when it is present. `allow_32bit` admits the
    i386 ABI; the init must then be given socketcall_guard_args.
    """
    unconditional = sorted(_ALWAYS_ALLOWED | _granted(capabilities))
    rules: list[dict[str, object]] = [
        {"names": unconditional, "action": "SCMP_ACT_ALLOW"},
        _clone_rule(),
        _clone3_rule(),
        *_personality_rules(),
        *_socket_rules(capabilities),
    ]
    return {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": _EPERM,
        "architectures": list(ARCHITECTURES_WITH_I386 if allow_32bit else ARCHITECTURES),
        "syscalls": rules,
    }
