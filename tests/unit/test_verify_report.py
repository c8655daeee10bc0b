"""The report: exit status from the rows, a readable table, JSON for scripts."""

import io
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stockade.cli.verify_report import print_report, report_lines, to_json
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
    text = "\n".join(report_lines(report, 300))
    assert "UNSAFE options: disable_seccomp" in text and "--cap-add: CAP_X" in text
    assert "27. reach the platform's API socket" in text and "pid namespace" in text
    assert "not enforced (gap)" in text and "VERIFIED" in text


def test_json_round_trips() -> None:
    report = Report.build("box", evaluate(evidence()), [])
    data = json.loads(to_json(report))
    assert data["passed"] is True and data["counts"]["fail"] == 0
    assert Report.model_validate(data) == report
    assert {c["group"] for c in data["checks"]} == {"layer", "battery"}


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_sees_the_verdicts_in_colour(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("COLUMNS", "120")
    report = Report.build("box", evaluate(evidence()), [])
    terminal, pipe = _Terminal(), io.StringIO()
    print_report(report, file=terminal)
    print_report(report, file=pipe)
    assert "\x1b[1;32mPASS\x1b[0m" in terminal.getvalue()
    assert "\x1b" not in pipe.getvalue() and "PASS" in pipe.getvalue()
    monkeypatch.setenv("NO_COLOR", "1")  # colours go, bold stays
    plain = _Terminal()
    print_report(report, file=plain)
    assert "\x1b[1mPASS\x1b[0m" in plain.getvalue()
