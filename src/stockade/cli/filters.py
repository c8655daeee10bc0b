"""`ps --filter KEY=VALUE` as docker reads it: the same key given twice matches either
value, different keys must all match. Keys: `name` (part of the handle), `label` (a
property `K` or `K=V`), `status` (created, running, stopped; docker's `exited` is
`stopped`). Applied to the items' JSON, so parsing a filter loads no models."""

from collections.abc import Mapping, Sequence
from typing import Any

from stockade.errors import InvalidSpec

KEYS = ("name", "label", "status")
STATUSES = ("created", "running", "stopped")
_ALIASES = {"exited": "stopped"}

Filters = Mapping[str, tuple[str, ...]]


def parse(flags: Sequence[str]) -> dict[str, tuple[str, ...]]:
    found: dict[str, list[str]] = {}
    for flag in flags:
        key, sep, value = flag.partition("=")
        if not sep or key not in KEYS or not value:
            raise InvalidSpec(f"--filter {flag!r}: use name=, label= or status= with a value")
        if key == "status":
            value = _ALIASES.get(value, value)
            if value not in STATUSES:
                raise InvalidSpec(f"--filter {flag!r}: status is one of "
                                  f"{', '.join(STATUSES)} (or exited)")
        found.setdefault(key, []).append(value)
    return {key: tuple(values) for key, values in found.items()}


def matches(item: Mapping[str, Any], filters: Filters) -> bool:
    return all(any(_match(item, key, value) for value in values)
               for key, values in filters.items())


def _match(item: Mapping[str, Any], key: str, value: str) -> bool:
    if key == "name":
        return value in str(item.get("handle", ""))
    if key == "status":
        return bool(item.get("state") == value)
    return _label(item.get("properties") or {}, value)


def _label(properties: Mapping[str, str], wanted: str) -> bool:
    key, sep, value = wanted.partition("=")
    return key in properties and (not sep or properties[key] == value)
