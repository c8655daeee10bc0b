"""The report: exit status from the rows, a readable table, JSON for scripts."""

import io
import json

from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from stockade.cli.verify_report import print_report, to_json
from stockade.verify.evaluate import evaluate
from stockade.verify.model import Check, Status
from stockade.wire.verify import Report
from tests.unit.verify_evidence import evidence


def _check(status: Status, number: int) -> Check:
    return Check(id=f"c{number}", group="layer", name=f"c{number}", status=status,
                 expected="e", observed="o")


@given(st.lists(st.sampled_from(list(Status))), st.booleans())
def test_passed_means_no_failure_and_in_strict_mode_no_gap(statuses: list[Status],
                                                           strict: bool) -> None:
    report = Report.build("h", [_check(s, i) for i, s in enumerate(statuses)], [], strict)
    assert report.passed == (Status.FAIL not in statuses and
                             not (strict and Status.GAP in statuses))
    assert sum(report.counts.values()) == len(statuses)


def test_the_table_names_every_row_and_the_verdict() -> None:
    report = Report.build("box", evaluate(evidence()), ["disable_seccomp"], cap_add=["CAP_X"])
    out = io.StringIO()
    print_report(report, Console(file=out, width=300, soft_wrap=True))
    text = out.getvalue()
    assert "UNSAFE options: disable_seccomp" in text and "--cap-add: CAP_X" in text
    assert "27. reach the platform's API socket" in text and "pid namespace" in text
    assert "not enforced (gap)" in text and "VERIFIED" in text


def test_json_round_trips() -> None:
    report = Report.build("box", evaluate(evidence()), [])
    data = json.loads(to_json(report))
    assert data["passed"] is True and data["counts"]["fail"] == 0
    assert Report.model_validate(data) == report
    assert {c["group"] for c in data["checks"]} == {"layer", "battery"}
