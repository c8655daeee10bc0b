"""TCP/UDP port lists such as '80', '80,443' or '8000-9000', as sorted inclusive intervals."""

import re

from stockade.errors import InvalidSpec

MAX_PORT = 65535
_PORT_ITEM = re.compile(r"^([0-9]{1,5})(?:-([0-9]{1,5}))?$")

Interval = tuple[int, int]


def parse_ports(text: str) -> tuple[Interval, ...]:
    """'80', '80,443' or '8000-9000' (and mixes) as sorted inclusive intervals."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidSpec("ports must be a non-empty string such as 80, 80,443 or 8000-9000")
    result = []
    for item in text.split(","):
        match = _PORT_ITEM.match(item.strip())
        if match is None:
            raise InvalidSpec(f"malformed port {item.strip()!r}: use 80, 80,443 or 8000-9000")
        low = int(match.group(1))
        high = int(match.group(2) or low)
        if not 1 <= low <= high <= MAX_PORT:
            raise InvalidSpec(f"port range {item.strip()!r} must satisfy 1 <= low <= high <= 65535")
        result.append((low, high))
    return tuple(sorted(result))


def format_ports(intervals: tuple[Interval, ...]) -> str:
    return ",".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in intervals)


def merge(intervals: list[Interval]) -> tuple[Interval, ...]:
    """Overlapping or touching intervals joined, sorted: one Landlock rule range each."""
    merged: list[Interval] = []
    for low, high in sorted(intervals):
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(high, merged[-1][1]))
        else:
            merged.append((low, high))
    return tuple(merged)


def contains(intervals: tuple[Interval, ...], port: int) -> bool:
    return any(low <= port <= high for low, high in intervals)
