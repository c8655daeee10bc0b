"""The result of one check, the evidence every check reads, and shared judging helpers."""

from collections.abc import Iterable
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict

from stockade.verify.expect import Expectations
from stockade.verify.facts import Attempt, HostFacts, ProbeFacts, errno_name
from stockade.wire.verify import Check, Status

__all__ = ["Check", "Evidence", "Status", "Verdict"]


class Evidence(BaseModel):
    """Everything a check may look at; checks are pure functions of it."""

    model_config = ConfigDict(frozen=True)

    probe: ProbeFacts
    host: HostFacts
    expect: Expectations


class Verdict(NamedTuple):
    status: Status
    observed: str


def verdict(ok: bool, observed: str) -> Verdict:
    return Verdict(Status.PASS if ok else Status.FAIL, observed)


def not_observed(what: str) -> Verdict:
    """Missing evidence fails: a check that cannot see its layer cannot vouch for it."""
    return Verdict(Status.FAIL, f"not observed: {what}")


def describe(attempts: Iterable[Attempt]) -> str:
    return "; ".join(f"{a.name} {a.detail}: {a.result}" for a in attempts)


def judge(probe: ProbeFacts, names: Iterable[str], blocked: frozenset[int]) -> Verdict:
    """Pass when each named attempt was made and every try met one of the `blocked` errnos."""
    wanted = list(names)
    seen = [a for name in wanted for a in probe.named(name)]
    missing = [name for name in wanted if not probe.named(name)]
    if missing:
        return not_observed(", ".join(missing))
    stopped = all(a.errno in blocked for a in seen)
    allowed = [a for a in seen if a.errno not in blocked]
    text = describe(seen) if stopped else "NOT STOPPED: " + describe(allowed)
    return verdict(stopped, text)


def errnos(*codes: int) -> frozenset[int]:
    return frozenset(codes)


def names_of(codes: Iterable[int]) -> str:
    return " or ".join(errno_name(c) for c in sorted(codes))
