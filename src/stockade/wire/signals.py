"""Signals by name, as the API takes them: every signal with a stable name.

Standard library only, so the CLI and the process-stream protocol (wire/stream.py) read a
signal's name without loading the request models."""

import signal as signals

# Real-time signals have no stable names; everything else is known by its usual one.
SIGNAL_NAMES = frozenset(s.name.removeprefix("SIG") for s in signals.Signals
                         if not s.name.startswith("SIGRT"))


def signal_name(value: str) -> str:
    """'TERM', 'SIGTERM' and 'term' all name SIGTERM; the result is 'TERM'."""
    name = value.upper().removeprefix("SIG")
    if name not in SIGNAL_NAMES:
        raise ValueError(f"unknown signal {value!r}; use a name such as TERM, INT, KILL, HUP")
    return name


def signal_number(name: str) -> int:
    return int(signals.Signals[f"SIG{signal_name(name)}"])
