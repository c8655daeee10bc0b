"""Is a bundle's own seccomp profile at least as strict as stockade's?

Only a profile that provably allows nothing ours refuses is kept. Two filters cannot be
stacked through runc, so a profile that is stricter in one place and weaker in another
is replaced by ours as a whole.
"""

from typing import Any

# Actions under which a syscall can go ahead: a tracer or a notify agent may allow it.
_LETS_THROUGH = frozenset({"SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_TRACE",
                           "SCMP_ACT_NOTIFY"})

Condition = tuple[int, int, int, str]


def _conditions(rule: dict[str, Any]) -> tuple[Condition, ...]:
    return tuple(sorted((int(a.get("index", 0)), int(a.get("value", 0)),
                         int(a.get("valueTwo", 0)), str(a.get("op", "")))
                        for a in rule.get("args") or []))


def _allow_rules(profile: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in profile.get("syscalls") or [] if r.get("action") in _LETS_THROUGH]


def _our_grants(ours: dict[str, Any]) -> tuple[set[str], set[tuple[str, tuple[Condition, ...]]]]:
    """Names ours allows outright, and (name, conditions) pairs it allows with arguments."""
    outright: set[str] = set()
    filtered: set[tuple[str, tuple[Condition, ...]]] = set()
    for rule in _allow_rules(ours):
        conditions = _conditions(rule)
        for name in rule.get("names") or []:
            if conditions:
                filtered.add((name, conditions))
            else:
                outright.add(name)
    return outright, filtered


def at_least_as_strict(profile: dict[str, Any] | None, ours: dict[str, Any]) -> bool:
    """True when every syscall `profile` lets through, ours lets through too.

    A conditional rule counts only when ours has the very same conditions for that name;
    comparing different argument filters is not attempted.
    """
    if not profile or profile.get("defaultAction") in _LETS_THROUGH:
        return False
    if "SECCOMP_FILTER_FLAG_SPEC_ALLOW" in (profile.get("flags") or []):
        return False  # it turns off the kernel's speculation mitigations
    if set(profile.get("architectures") or []) - set(ours.get("architectures") or []):
        return False  # another ABI (i386's socketcall) where the same rules let more through
    outright, filtered = _our_grants(ours)
    for rule in _allow_rules(profile):
        conditions = _conditions(rule)
        for name in rule.get("names") or []:
            if name in outright or (conditions and (name, conditions) in filtered):
                continue
            return False
    return True
