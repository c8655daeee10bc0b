"""Tables fitted to the terminal: what names a row prints whole, the rest makes room."""

import io
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stockade.audit import AuditLog
from stockade.cli import render, session
from stockade.cli.tables import Column, Sheet, available_width, cell_len, fit, write_table
from stockade.cli.verify_report import report_lines
from stockade.engine.layout import Layout
from stockade.spec import ContainerInfo
from stockade.spec.container import PortMapping
from stockade.verify.evaluate import evaluate
from stockade.wire.verify import Report
from tests.unit.clikit import invoke
from tests.unit.verify_evidence import evidence

HANDLE = "c-0123456789abcdef"
LONG_COMMAND = ["python3", "-m", "http.server", "--bind", "0.0.0.0", "--directory", "/srv/www"]


def _info(handle: str, state: Any = "running", command: list[str] | None = None,
          exit_code: int | None = None, ports: int = 2) -> ContainerInfo:
    return ContainerInfo(
        handle=handle, state=state, image="busybox", ip="10.88.0.17",
        ports=[PortMapping(host_port=8000 + i, container_port=80 + i) for i in range(ports)],
        limits={"memory_bytes": 256 << 20, "cpu_shares": 256, "pids": 512,
                "disk_bytes": 1 << 30},
        command=LONG_COMMAND if command is None else command, created_at=time.time() - 90,
        exit_code=exit_code, events=["oom"])


def _render(sheet: Sheet, width: int | None, no_trunc: bool = False) -> str:
    out = io.StringIO()
    write_table(sheet, width, no_trunc, file=out)
    return out.getvalue()


def _widest(text: str) -> int:
    return max(cell_len(line) for line in text.splitlines())


class _Client:
    """The daemon's answer to a list: ContainerInfo's JSON."""

    def __init__(self, items: list[ContainerInfo]) -> None:
        self.items = items

    def list_json(self) -> list[dict[str, Any]]:
        return [item.model_dump(mode="json") for item in self.items]


Capture = pytest.CaptureFixture[str]


def _ps(monkeypatch: pytest.MonkeyPatch, capsys: Capture, items: list[ContainerInfo],
        *args: str, columns: str = "80") -> str:
    monkeypatch.setattr(session, "open_json", lambda options: _Client(items))
    monkeypatch.setenv("COLUMNS", columns)
    code, out, err = invoke(capsys, "ps", *args)
    assert code == 0, err
    return out


def test_ps_at_80_columns_prints_the_handle_and_state_whole(
        monkeypatch: pytest.MonkeyPatch, capsys: Capture) -> None:
    out = _ps(monkeypatch, capsys, [_info(HANDLE)])
    header, row = out.splitlines()[:2]
    assert header.split()[:2] == ["HANDLE", "STATE"]
    assert row.split()[:2] == [HANDLE, "running"]
    assert "…" not in row.split("  ")[0] and "HAND…" not in out and "runn…" not in out
    assert _widest(out) <= 80
    assert "python3 -m http.ser…" in out  # docker's short command, marked as cut


def test_ps_no_trunc_prints_every_column_whole(monkeypatch: pytest.MonkeyPatch,
                                               capsys: Capture) -> None:
    out = _ps(monkeypatch, capsys, [_info(HANDLE)], "--no-trunc")
    assert out.splitlines()[0].split() == [
        "HANDLE", "STATE", "IMAGE", "COMMAND", "IP", "PORTS", "MEMORY", "CPU", "PIDS", "DISK",
        "CREATED", "EVENTS"]
    assert " ".join(LONG_COMMAND) in out and "8000->80/tcp, 8001->81/tcp" in out
    assert "…" not in out
    assert _widest(out) > 80  # longer than the terminal, as docker ps --no-trunc


def test_ps_json_is_unchanged(monkeypatch: pytest.MonkeyPatch,
                              capsys: Capture) -> None:
    items = [_info(HANDLE)]
    out = _ps(monkeypatch, capsys, items, "--json")
    assert json.loads(out) == [item.model_dump(mode="json") for item in items]


def test_an_exit_code_stays_with_its_state(monkeypatch: pytest.MonkeyPatch,
                                           capsys: Capture) -> None:
    out = _ps(monkeypatch, capsys, [_info(HANDLE, state="stopped", exit_code=137)], "-a",
              columns="40")
    assert f"{HANDLE}  stopped (137)" in out


_HANDLES = st.text("abcdefghijklmnopqrstuvwxyz0123456789-_.", min_size=1, max_size=40)
_STATES = st.sampled_from(["creating", "created", "running", "stopped"])
_WORDS = st.text("abcxyz/-=_.:é漢字", min_size=1, max_size=30)
_ROWS = st.lists(st.tuples(_HANDLES, _STATES, st.lists(_WORDS, max_size=8),
                           st.none() | st.integers(0, 255), st.integers(0, 4)),
                 min_size=1, max_size=5, unique_by=lambda row: row[0])


def _containers(rows: list[tuple[str, str, list[str], int | None, int]]) -> list[ContainerInfo]:
    return [_info(handle, state, command, code, ports)
            for handle, state, command, code, ports in rows]


def _state(info: ContainerInfo) -> str:
    return info.state if info.exit_code is None else f"{info.state} ({info.exit_code})"


@given(_ROWS, st.integers(40, 250))
def test_handle_and_state_are_whole_and_lines_fit(
        rows: list[tuple[str, str, list[str], int | None, int]], width: int) -> None:
    items = _containers(rows)
    out = _render(render.containers_table([i.model_dump(mode="json") for i in items]), width)
    firsts = {line.split()[0]: line for line in out.splitlines()[1:] if line[:1].strip()}
    for item in items:  # the row's first line starts with the handle, then its state
        assert item.handle in firsts
        assert firsts[item.handle][len(item.handle):].lstrip().startswith(_state(item))
    essentials = (max(len("HANDLE"), *(len(i.handle) for i in items)) + 2
                  + max(len("STATE"), *(len(_state(i)) for i in items)))
    assert _widest(out) <= max(width, essentials)


@given(_ROWS, st.integers(40, 250))
def test_no_trunc_prints_every_value_whole(
        rows: list[tuple[str, str, list[str], int | None, int]], width: int) -> None:
    items = _containers(rows)
    out = _render(render.containers_table([i.model_dump(mode="json") for i in items]), width,
                  no_trunc=True)
    for item in items:
        assert item.handle in out and _state(item) in out and " ".join(item.command) in out
        ports = ", ".join(f"{p.host_port}->{p.container_port}/tcp" for p in item.ports)
        assert ports in out
    assert len(out.splitlines()) == len(items) + 1  # nothing folded onto a second line


# The fitting rules themselves, on small tables.

_A, _B, _C = Column("A", essential=True), Column("B", priority=2), Column("C", priority=1)


def test_the_lowest_priority_leaves_first_and_ties_from_the_right() -> None:
    rows = [("a" * 10, "b" * 10, "c" * 10)]
    assert [c.header for c in fit((_A, _B, _C), rows, 22).columns] == ["A", "B"]
    assert [c.header for c in fit((_A, _B, _C), rows, 21).columns] == ["A"]
    tied = (_A, Column("B", priority=1), Column("C", priority=1))
    assert [c.header for c in fit(tied, rows, 22).columns] == ["A", "B"]


def test_an_essential_column_is_never_cut_even_when_it_alone_is_too_wide() -> None:
    fitted = fit((_A, _B), [("a" * 50, "b")], 20)
    assert fitted.columns == (_A,) and fitted.widths == (50,)
    assert fitted.rows[0][0].plain == "a" * 50


def test_a_wrapping_column_folds_to_stay() -> None:
    notes = Column("NOTES", priority=1, wrap=True)
    rows = [("a", "b" * 10, "n" * 40)]
    fitted = fit((_A, _B, notes), rows, 35)
    assert [c.header for c in fitted.columns] == ["A", "B", "NOTES"]
    assert fitted.width == 35 and fitted.widths == (1, 10, 20)
    text = _render(Sheet((_A, _B, notes), rows), 35)
    assert [line[15:] for line in text.splitlines()[1:]] == ["n" * 20, "n" * 20]


def test_a_column_never_outlives_a_more_important_one() -> None:
    notes = Column("NOTES", priority=1, wrap=True)
    extra = Column("EXTRA", priority=2)
    fitted = fit((_A, notes, extra), [("a", "n" * 20, "x" * 30)], 30)
    assert [c.header for c in fitted.columns] == ["A"]


def test_equal_ranks_fold_side_by_side() -> None:
    left, right = Column("L", priority=1, wrap=True), Column("R", priority=1, wrap=True)
    fitted = fit((_A, left, right), [("a", "l " * 30, "r " * 30)], 45)
    assert fitted.widths == (1, 20, 20)


def test_a_column_without_priority_folds_but_never_leaves() -> None:
    detail = Column("DETAIL", priority=None, wrap=True)
    fitted = fit((Column("FEATURE", essential=True), detail), [("f" * 30, "d" * 100)], 35)
    assert [c.header for c in fitted.columns] == ["FEATURE", "DETAIL"]
    assert fitted.widths == (30, 20)  # floor: words up to 2 * WRAP_FLOOR cells stay whole


_COLUMN = st.builds(Column, header=st.text("ABCXYZ", min_size=1, max_size=8),
                    essential=st.booleans(), priority=st.integers(0, 4), wrap=st.booleans(),
                    cap=st.none() | st.integers(1, 30))


@given(st.lists(_COLUMN, min_size=1, max_size=6).flatmap(lambda columns: st.tuples(
    st.just(columns),
    st.lists(st.tuples(*[st.text("ab c-漢", max_size=60) for _ in columns]), max_size=4))),
    st.integers(0, 200))
def test_fit_keeps_essentials_whole_drops_by_priority_and_fits(
        table: tuple[list[Column], list[tuple[str, ...]]], width: int) -> None:
    columns, rows = table
    fitted = fit(columns, rows, width)
    kept = list(fitted.kept)
    for i, column in enumerate(columns):
        if column.essential:
            assert i in kept
            assert [r[kept.index(i)].plain for r in fitted.rows] == [
                r[i].expandtabs() for r in rows]
    dropped = [i for i in range(len(columns)) if i not in kept]
    for d in dropped:  # nothing less important stays
        for k in kept:
            if not columns[k].essential:
                assert (columns[k].priority or 0, -k) > (columns[d].priority or 0, -d)
    essentials = [i for i in kept if columns[i].essential]
    alone = sum(fitted.widths[kept.index(i)] for i in essentials) + 2 * max(
        len(essentials) - 1, 0)
    assert fitted.width <= max(width, alone)


def test_caps_cut_with_or_without_a_mark_and_no_trunc_keeps_all() -> None:
    columns = (Column("CMD", cap=5), Column("ID", cap=4, ellipsis=False))
    rows = [("abcdefgh", "sha256:ff")]
    assert [t.plain for t in fit(columns, rows, None).rows[0]] == ["abcd…", "sha2"]
    assert [t.plain for t in fit(columns, rows, None, no_trunc=True).rows[0]] == list(rows[0])


def test_without_a_width_nothing_leaves() -> None:
    fitted = fit((_A, _B, _C), [("a" * 100, "b" * 100, "c" * 100)], None)
    assert fitted.widths == (100, 100, 100)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_bold_header_and_a_pipe_plain_text(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    sheet = Sheet((_A, _B), [("a", "b")])
    terminal, pipe = _Terminal(), io.StringIO()
    write_table(sheet, None, file=terminal)
    write_table(sheet, None, file=pipe)
    assert pipe.getvalue() == "A  B\na  b\n"
    assert terminal.getvalue() == "\x1b[1mA\x1b[0m  \x1b[1mB\x1b[0m\na  b\n"
    monkeypatch.setenv("TERM", "dumb")
    dumb = _Terminal()
    write_table(sheet, None, file=dumb)
    assert dumb.getvalue() == pipe.getvalue()


def test_control_characters_do_not_reach_the_terminal() -> None:
    out = _render(Sheet((_A,), [("a\rb\x07c\x08",)]), 80)
    assert out == "A\nabc\n"


def test_values_print_as_written_not_as_markup() -> None:
    out = _render(Sheet((_A,), [("[red]x[/red]",)]), 80)
    assert "[red]x[/red]" in out


def test_a_pipe_gets_whole_rows_and_columns_is_a_request(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    assert available_width(io.StringIO()) is None
    monkeypatch.setattr("os.get_terminal_size", lambda fd: os.terminal_size((90, 24)))
    assert available_width(_Terminal()) == 90
    monkeypatch.setenv("COLUMNS", "80")
    assert available_width(io.StringIO()) == 80
    assert available_width(_Terminal()) == 80


# Other tables the CLI prints, through the commands where no daemon is needed.

def test_audit_at_80_columns_keeps_seq_and_time_whole(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: Capture) -> None:
    log = AuditLog(Layout(tmp_path).audit_log)
    log.append(kind="api", action="create", actor="uid=0 pid=12345 comm=python3",
               target=HANDLE, result="error: no such image: registry.example/some/thing")
    monkeypatch.setenv("COLUMNS", "80")
    out = invoke(capsys, "--root", str(tmp_path), "audit")[1]
    row = out.splitlines()[1].split()
    assert row[0] == "0" and row[1] == log.tail(1)[0].time
    assert _widest(out) <= 80
    whole = invoke(capsys, "--root", str(tmp_path), "audit", "--no-trunc")[1]
    assert whole.splitlines()[0].split() == ["SEQ", "TIME", "KIND", "ACTOR", "ACTION",
                                             "TARGET", "RESULT"]
    assert "error: no such image: registry.example/some/thing" in whole


def test_verify_at_80_columns_keeps_check_and_status_whole() -> None:
    report = Report.build("box", evaluate(evidence()), [])
    text = "\n".join(report_lines(report, 80))
    for check in report.checks:
        assert any(line.startswith(check.name) and check.status.value.upper() in line
                   for line in text.splitlines())
    assert _widest(text) <= max(80, max(len(c.name) for c in report.checks) + 2 + 6)
