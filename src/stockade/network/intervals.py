"""Turn overlapping boxes (one inclusive interval per dimension) into disjoint ones.

nftables interval sets reject elements that overlap, and concatenated (multi-field)
sets keep partial overlaps with first-match semantics; either way the set must be
given a disjoint cover of exactly the union of what the rules allow."""

import itertools
from collections.abc import Iterable, Sequence

Interval = tuple[int, int]
Box = tuple[Interval, ...]


def disjoint(boxes: Iterable[Box]) -> list[Box]:
    """Disjoint boxes covering exactly the union of `boxes`, in sorted order."""
    items = sorted(set(boxes))
    if not items:
        return []
    dims = len(items[0])
    if any(len(b) != dims or any(lo > hi for lo, hi in b) for b in items):
        raise ValueError("boxes must share a dimension and have low <= high")
    return _decompose(items, dims)


def _merge_1d(intervals: Sequence[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for low, high in sorted(intervals):
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return merged


def _decompose(boxes: Sequence[Box], dims: int) -> list[Box]:
    if dims == 1:
        return [(iv,) for iv in _merge_1d([b[0] for b in boxes])]
    segments = _segments(boxes, dims)
    result: list[Box] = []
    for (low, high), rest in segments:
        result.extend(((low, high), *tail) for tail in rest)
    return result


def _segments(boxes: Sequence[Box], dims: int) -> list[tuple[Interval, tuple[Box, ...]]]:
    """Sweep the first dimension; neighbours with equal remainders are joined."""
    starts: dict[int, list[int]] = {}
    ends: dict[int, list[int]] = {}
    for index, box in enumerate(boxes):
        starts.setdefault(box[0][0], []).append(index)
        ends.setdefault(box[0][1] + 1, []).append(index)
    points = sorted(set(starts) | set(ends))
    active: set[int] = set()
    segments: list[tuple[Interval, tuple[Box, ...]]] = []
    for here, following in itertools.pairwise(points):
        active.difference_update(ends.get(here, ()))
        active.update(starts.get(here, ()))
        if not active:
            continue
        rest = tuple(_decompose(sorted({boxes[i][1:] for i in active}), dims - 1))
        if segments and segments[-1][0][1] == here - 1 and segments[-1][1] == rest:
            segments[-1] = ((segments[-1][0][0], following - 1), rest)
        else:
            segments.append(((here, following - 1), rest))
    return segments
