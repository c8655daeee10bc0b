"""Run the command line in this process, as `stockade` would, and read what it printed."""

import pytest

from stockade.cli import main


def invoke(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `stockade ARGV...`."""
    with pytest.raises(SystemExit) as ended:
        main.main(list(argv))
    out, err = capsys.readouterr()
    code = ended.value.code
    return code if isinstance(code, int) else (0 if code is None else 1), out, err
