"""`stockade audit` against a private root: no daemon, no engine, just the file."""

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from stockade.audit import AuditLog
from stockade.cli import main
from stockade.engine.layout import Layout
from tests.unit.audit_helpers import lines, write


@pytest.fixture
def root(tmp_path: Path) -> Path:
    log = AuditLog(Layout(tmp_path).audit_log)
    for number in range(4):
        log.append(kind="api", action="create", actor="uid=0 pid=9", target=f"web{number}",
                   result="ok" if number != 2 else "error: no such image")
    return tmp_path


@pytest.fixture(autouse=True)
def _wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")


Run = Callable[..., tuple[int, str]]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    """`stockade ARGS...` through the parser and the command: (exit code, stdout)."""
    def invoke(*args: str) -> tuple[int, str]:
        return main.run(list(args)), capsys.readouterr().out

    return invoke


def test_the_table_shows_every_record(root: Path, run: Run) -> None:
    code, out = run("--root", str(root), "audit")
    assert code == 0
    header = out.splitlines()[0].split()
    assert header == ["SEQ", "TIME", "KIND", "ACTOR", "ACTION", "TARGET", "RESULT"]
    assert "web3" in out and "error: no such image" in out


def test_json_and_tail(root: Path, run: Run) -> None:
    code, out = run("audit", "--root", str(root), "--json", "--tail", "2")
    assert code == 0
    records = json.loads(out)
    assert [r["seq"] for r in records] == [2, 3]
    assert set(records[0]) == {"seq", "time", "kind", "action", "actor", "target", "result",
                               "details", "prev", "hash"}


def test_verify_passes_then_names_the_edit(root: Path, run: Run) -> None:
    code, out = run("--root", str(root), "audit", "--verify")
    assert code == 0
    assert out.splitlines()[0] == "audit log intact: 4 records"
    head = out.splitlines()[1].removeprefix("head: ")
    log = AuditLog(Layout(root).audit_log)
    original = lines(log)
    write(log, [*original[:1], original[1].replace(b'"ok"', b'"OK"'), *original[2:]])
    code, out = run("--root", str(root), "audit", "--verify")
    assert code == 1
    assert "record 1 (line 2) was edited" in out
    code, out = run("--root", str(root), "audit", "--anchor", head, "--json")
    assert code == 1
    assert [p["kind"] for p in json.loads(out)["problems"]] == ["edited"]


def test_verify_names_truncation_and_a_foreign_anchor(root: Path, run: Run) -> None:
    log = AuditLog(Layout(root).audit_log)
    write(log, lines(log)[:2])
    code, out = run("--root", str(root), "audit", "--verify", "--anchor", "ab" * 32)
    assert code == 1
    assert "records 2..3 were removed from the end" in out
    assert "no record has the head hash given" in out


def test_a_bad_anchor_is_one_line_and_125(root: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as ended:
        main.main(["--root", str(root), "audit", "--verify", "--anchor", "xyz"])
    assert ended.value.code == main.PLATFORM_ERROR
    assert capsys.readouterr().err.startswith("stockade: error: --anchor: ")


def test_the_root_comes_from_the_environment_too(root: Path) -> None:
    """Through main(), as installed: STOCKADE_ROOT, exit codes, and no daemon or root needed."""
    env = {**os.environ, "STOCKADE_ROOT": str(root), "PYTHONPATH": os.pathsep.join(sys.path)}
    command = [sys.executable, "-c", "from stockade.cli.main import main; main()", "audit"]
    shown = subprocess.run([*command, "--verify"], env=env, capture_output=True, text=True,
                           check=False)
    assert shown.returncode == 0 and "audit log intact: 4 records" in shown.stdout
    bad = subprocess.run([*command, "--anchor", "nope"], env=env, capture_output=True,
                         text=True, check=False)
    assert bad.returncode == 125 and "--anchor" in bad.stderr
