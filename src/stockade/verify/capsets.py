"""Capability names and the bit masks /proc/<pid>/status prints (linux/capability.h)."""

from collections.abc import Iterable

from stockade.spec.container import CAPABILITY_NAMES

NAMES = CAPABILITY_NAMES  # in kernel bit order: CAP_CHOWN is bit 0
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
