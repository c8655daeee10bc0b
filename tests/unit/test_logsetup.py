"""The daemon's log lines: time and level, JSON for shippers, and a file that rotates
with stderr following it. Run in a child: configuring points fds 1 and 2 at the file."""

import json
import re
import subprocess
import sys
from pathlib import Path

CHILD = """
import logging, sys
from pathlib import Path
from stockade.api import logsetup
logsetup.ROTATE_BYTES = 2000
logsetup.configure(sys.argv[1], sys.argv[2], Path(sys.argv[3]) if sys.argv[3] else None)
log = logging.getLogger("stockade.test")
log.debug("hidden unless debug")
for i in range(int(sys.argv[4])):
    log.info("line %d %s", i, "x" * 60)
try:
    raise ValueError("boom")
except ValueError:
    log.exception("failed")
print("stray stderr after rotation", file=sys.stderr, flush=True)
"""


def _run(level: str, form: str, file: Path | None, lines: int) -> str:
    done = subprocess.run([sys.executable, "-c", CHILD, level, form, str(file or ""),
                           str(lines)], capture_output=True, text=True, check=True)
    return done.stderr


def test_text_lines_carry_utc_time_and_level() -> None:
    out = _run("info", "text", None, 2).splitlines()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO stockade.test: line 0 x+",
                        out[0])
    assert not any("hidden" in line for line in out)
    assert "ValueError: boom" in "\n".join(out)


def test_json_lines_are_objects_with_time_level_and_exception() -> None:
    lines = [line for line in _run("debug", "json", None, 1).splitlines()
             if line.startswith("{")]
    entries = [json.loads(line) for line in lines]
    assert [e["level"] for e in entries] == ["DEBUG", "INFO", "ERROR"]
    assert entries[0]["logger"] == "stockade.test" and entries[0]["time"].endswith("Z")
    assert "ValueError: boom" in entries[-1]["exception"]


def test_the_file_rotates_and_stderr_follows_it(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "daemon.log"
    assert _run("info", "text", log, 200) == ""  # nothing on the terminal
    rotated = sorted(p.name for p in log.parent.iterdir())
    assert rotated == ["daemon.log", *(f"daemon.log.{i}" for i in range(1, 6))]  # 5 kept
    assert all(p.stat().st_size <= 2200 for p in log.parent.iterdir())
    current = log.read_text()
    assert "stray stderr after rotation" in current and "line 199" in current
    assert log.stat().st_mode & 0o777 == 0o600
