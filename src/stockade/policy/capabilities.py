"""The capability sets a container's process receives."""

# Docker's default fourteen, minus NET_RAW (packet spoofing), MKNOD (device nodes),
# SYS_CHROOT (chroot games), SETFCAP (file capabilities) and AUDIT_WRITE (audit log
# spam): none is needed by ordinary applications, each has been used in escapes.
DEFAULT_BOUNDING = frozenset(
    {
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FOWNER",
        "CAP_FSETID",
        "CAP_KILL",
        "CAP_NET_BIND_SERVICE",
        "CAP_SETGID",
        "CAP_SETPCAP",
        "CAP_SETUID",
    }
)


def bounding_set(cap_add: list[str]) -> frozenset[str]:
    """The default set plus the spec's (already validated) add-backs."""
    return DEFAULT_BOUNDING | frozenset(cap_add)


def process_capabilities(bounding: frozenset[str], uid: int) -> dict[str, list[str]]:
    """OCI process.capabilities: a non-root user holds none, root holds the bounding set."""
    names = sorted(bounding)
    held = names if uid == 0 else []
    return {
        "bounding": names,
        "effective": held,
        "permitted": held,
        "inheritable": [],
        "ambient": [],
    }
