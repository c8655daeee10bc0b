"""How long each step of a container's create, start and destroy took.

The engine drops a lap mark after each step (`lap(handle, "volume")`); the time since
the previous mark is added to that phase. Marks are single line insertions, so the
lifecycle code keeps its shape, and a mark costs two clock reads and a dict update.
Only the most recent containers are kept, so a long-running daemon does not grow."""

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

DEFAULT_KEEP = 512


@dataclass
class _Timing:
    last: float
    phases: dict[str, float] = field(default_factory=dict)


class PhaseLog:
    """Seconds per phase, per container handle; thread-safe."""

    def __init__(self, keep: int = DEFAULT_KEEP) -> None:
        self._keep = keep
        self._timings: OrderedDict[str, _Timing] = OrderedDict()
        self._lock = threading.Lock()

    def mark(self, handle: str, fresh: bool = False) -> None:
        """Start timing an operation; `fresh` forgets an earlier container of that name."""
        now = time.perf_counter()
        with self._lock:
            timing = None if fresh else self._timings.get(handle)
            if timing is None:
                self._timings[handle] = _Timing(last=now)
                self._trim()
            else:
                timing.last = now
            self._timings.move_to_end(handle)

    def lap(self, handle: str, phase: str) -> None:
        """Charge the time since the last mark or lap to `phase`."""
        now = time.perf_counter()
        with self._lock:
            timing = self._timings.get(handle)
            if timing is None:  # no mark: e.g. trimmed away meanwhile
                return
            timing.phases[phase] = timing.phases.get(phase, 0.0) + now - timing.last
            timing.last = now

    def of(self, handle: str) -> dict[str, float]:
        """Seconds per phase in the order the phases first ran; empty if unknown."""
        with self._lock:
            timing = self._timings.get(handle)
            return dict(timing.phases) if timing else {}

    def _trim(self) -> None:
        while len(self._timings) > self._keep:
            self._timings.popitem(last=False)
