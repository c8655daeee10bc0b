"""A verify report as the daemon sends it: one row per check and the verdict. Running the
checks is `stockade.verify`'s; printing the report is the CLI's (cli/verify_report.py)."""

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    GAP = "gap"  # a layer not enforced here (e.g. no quota backend): reported, never hidden


class Check(BaseModel):
    """One row of the report."""

    model_config = ConfigDict(frozen=True)

    id: str
    group: Literal["layer", "battery"]
    name: str
    status: Status
    expected: str
    observed: str


class Report(BaseModel):
    """`passed` is False when any row failed, or (strict) when a layer is not enforced."""

    model_config = ConfigDict(frozen=True)

    handle: str
    passed: bool
    strict: bool
    counts: dict[str, int]
    unsafe: list[str]
    cap_add: list[str] = []
    checks: list[Check]
    # the host baseline's summary (docs/host.md): informational, never part of `passed`
    host: str | None = None

    @classmethod
    def build(cls, handle: str, checks: list[Check], unsafe: list[str], strict: bool = False,
              cap_add: list[str] | None = None) -> "Report":
        counts = {s.value: sum(c.status == s for c in checks) for s in Status}
        passed = counts[Status.FAIL] == 0 and not (strict and counts[Status.GAP])
        return cls(handle=handle, passed=passed, strict=strict, counts=counts, unsafe=unsafe,
                   cap_add=cap_add or [], checks=checks)

    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.status == Status.FAIL]
