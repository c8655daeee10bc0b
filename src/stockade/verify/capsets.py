"""Capability names and the bit masks /proc/<pid>/status prints (linux/capability.h)."""

from collections.abc import Iterable

# In kernel bit order: CAP_CHOWN is bit 0, CAP_CHECKPOINT_RESTORE bit 40.
NAMES = tuple(f"CAP_{name}" for name in (
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
    "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
    "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE",
    "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME",
    "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
    "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ",
    "PERFMON", "BPF", "CHECKPOINT_RESTORE",
))
BITS = {name: bit for bit, name in enumerate(NAMES)}


def mask(names: Iterable[str]) -> int:
    return sum(1 << BITS[name] for name in set(names))


def names(value: int) -> frozenset[str]:
    """Names of the set bits; bits the table does not know appear as 'bit N'."""
    return frozenset(NAMES[bit] if bit < len(NAMES) else f"bit {bit}"
                     for bit in range(value.bit_length()) if value >> bit & 1)


def parse_hex(text: str | None) -> int | None:
    """A Cap* field of /proc/<pid>/status, or None when absent or garbled."""
    try:
        return int(text, 16) if text is not None else None
    except ValueError:
        return None
