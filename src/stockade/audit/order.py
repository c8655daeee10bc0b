"""Sequence bookkeeping for the verifier, in memory that grows with damage, not with the log."""

from bisect import bisect_right
from dataclasses import dataclass


@dataclass
class Run:
    """Records on successive lines (malformed lines aside) whose seqs count up by one."""

    first_seq: int
    first_line: int
    last_seq: int
    last_line: int

    def describe(self) -> str:
        if self.first_seq == self.last_seq:
            return f"record {self.first_seq} (line {self.first_line})"
        return (f"records {self.first_seq}..{self.last_seq} "
                f"(lines {self.first_line}..{self.last_line})")


class SeqSet:
    """The seqs seen so far, as sorted disjoint intervals: one interval for an intact log."""

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []

    def add(self, seq: int) -> bool:
        """False if `seq` was already there."""
        i = bisect_right(self._starts, seq) - 1  # the interval starting at or before seq
        if i >= 0 and seq <= self._ends[i]:
            return False
        joins_left = i >= 0 and self._ends[i] == seq - 1
        joins_right = i + 1 < len(self._starts) and self._starts[i + 1] == seq + 1
        if joins_left and joins_right:
            self._ends[i] = self._ends.pop(i + 1)
            del self._starts[i + 1]
        elif joins_left:
            self._ends[i] = seq
        elif joins_right:
            self._starts[i + 1] = seq
        else:
            self._starts.insert(i + 1, seq)
            self._ends.insert(i + 1, seq)
        return True

    def __contains__(self, seq: int) -> bool:
        i = bisect_right(self._starts, seq) - 1
        return i >= 0 and seq <= self._ends[i]

    @property
    def highest(self) -> int | None:
        return self._ends[-1] if self._ends else None

    def gaps(self) -> list[tuple[int, int]]:
        """Missing (first, last) ranges between 0 and the highest seq."""
        found: list[tuple[int, int]] = []
        previous_end = -1
        for start, end in zip(self._starts, self._ends, strict=True):
            if start > previous_end + 1:
                found.append((previous_end + 1, start - 1))
            previous_end = end
        return found


def out_of_order(runs: list[Run]) -> list[Run]:
    """The runs outside the heaviest chain of runs in increasing seq order: what moved.

    Runs hold distinct seqs, so ordering them by first seq orders them completely. Weighting
    by length means a record swapped far away is blamed, not the many it jumped over."""
    keys = [run.first_seq for run in runs]
    weights = [run.last_seq - run.first_seq + 1 for run in runs]
    kept = _heaviest_increasing(keys, weights)
    return [run for i, run in enumerate(runs) if i not in kept]


def _heaviest_increasing(keys: list[int], weights: list[int]) -> set[int]:
    """Indices of the heaviest subsequence with strictly increasing (distinct) keys, in
    O(n log n): a Fenwick tree over key ranks answers "best chain ending below this key"."""
    if not keys:
        return set()
    rank = {key: i + 1 for i, key in enumerate(sorted(keys))}
    tree = _PrefixMax(len(keys))
    total = [0] * len(keys)
    parent = [-1] * len(keys)
    for i, key in enumerate(keys):
        best, parent[i] = tree.query(rank[key] - 1)
        total[i] = best + weights[i]
        tree.update(rank[key], total[i], i)
    end = max(range(len(keys)), key=total.__getitem__)
    chain: set[int] = set()
    while end != -1:
        chain.add(end)
        end = parent[end]
    return chain


class _PrefixMax:
    def __init__(self, size: int) -> None:
        self._value = [0] * (size + 1)
        self._index = [-1] * (size + 1)

    def update(self, position: int, value: int, index: int) -> None:
        while position < len(self._value):
            if value > self._value[position]:
                self._value[position], self._index[position] = value, index
            position += position & -position

    def query(self, position: int) -> tuple[int, int]:
        """The best (value, index) among positions 1..position; (0, -1) if none."""
        best, index = 0, -1
        while position > 0:
            if self._value[position] > best:
                best, index = self._value[position], self._index[position]
            position -= position & -position
        return best, index
