"""Parse and format human byte sizes such as 256M or 1G (binary units).

A top-level module rather than part of `stockade.spec`, whose package loads pydantic: the
CLI prints sizes in tables before (or without) loading any model."""

import re

from stockade.errors import InvalidSpec

_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_SIZE = re.compile(r"^\s*(\d+)\s*([KMGT]?)(?:I?B)?\s*$", re.IGNORECASE)
MAX_BYTES = 1 << 50  # 1 PiB: anything larger is a typo, not a limit


def parse_size(text: str | int) -> int:
    """Bytes for '256M', '1G', '512k', '1GiB' or a plain integer."""
    if isinstance(text, bool) or not isinstance(text, (str, int)):
        raise InvalidSpec("a size is a number of bytes or a text such as 256M")
    if isinstance(text, int):
        value = text
    else:
        match = _SIZE.match(text)
        if match is None:
            raise InvalidSpec(f"malformed size {text!r}: use a number with K, M, G or T, like 256M")
        value = int(match.group(1)) * _UNITS[match.group(2).upper()]
    if value <= 0:
        raise InvalidSpec(f"size must be positive, got {text!r}")
    if value > MAX_BYTES:
        raise InvalidSpec(f"size {text!r} is absurdly large")
    return value


def format_size(value: int) -> str:
    """The shortest exact binary form: 268435456 -> '256M'."""
    for unit in ("T", "G", "M", "K"):
        scale = _UNITS[unit]
        if value >= scale and value % scale == 0:
            return f"{value // scale}{unit}"
    return str(value)


def human_size(value: int) -> str:
    """A rounded, readable size for people: 104867822 -> '100.0M'."""
    for unit in ("T", "G", "M", "K"):
        scale = _UNITS[unit]
        if value >= scale:
            return f"{value / scale:.1f}{unit}"
    return f"{value}B"
