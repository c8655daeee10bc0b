"""How `run` and `create` split their positionals into the image and the command: docker's
`IMAGE [COMMAND...]`, `-- COMMAND...` for the embedded image, and `--image` as an alias."""

from typing import Any

import pytest
from typer.testing import CliRunner

from stockade.cli import main
from stockade.errors import InvalidSpec


class _Recorder:
    def __init__(self) -> None:
        self.specs: list[Any] = []

    def create(self, spec: Any, **_: Any) -> None:
        self.specs.append(spec)


@pytest.mark.parametrize(("args", "image", "command"), [
    (["--", "echo", "hi"], "busybox", ["echo", "hi"]),
    (["--", "sh", "-c", "echo -- x"], "busybox", ["sh", "-c", "echo -- x"]),
    (["busybox", "echo", "hi"], "busybox", ["echo", "hi"]),
    (["alpine:3", "ls", "-l", "--", "/"], "alpine:3", ["ls", "-l", "--", "/"]),
    (["alpine"], "alpine", []),
    ([], "busybox", []),
    (["--name", "n", "-e", "A=1", "alpine", "env"], "alpine", ["env"]),
    (["--image", "alpine", "--", "echo", "hi"], "alpine", ["echo", "hi"]),
    (["--image", "alpine", "echo", "hi"], "alpine", ["echo", "hi"]),
    (["--name", "n", "--", "alpine"], "busybox", ["alpine"]),
])
@pytest.mark.parametrize("verb", [["run", "-d"], ["create"]])
def test_the_first_positional_is_the_image_unless_after_dashes(
        monkeypatch: pytest.MonkeyPatch, verb: list[str], args: list[str], image: str,
        command: list[str]) -> None:
    recorder = _Recorder()
    monkeypatch.setattr(main, "_engine", lambda ctx: recorder)
    result = CliRunner().invoke(main.app, [*verb, *args])
    assert result.exit_code == 0, result.output
    (spec,) = recorder.specs
    assert (spec.image, spec.process.args) == (image, command)


@pytest.mark.parametrize("verb", ["run", "create"])
def test_help_shows_readable_placeholders(verb: str) -> None:
    shown = CliRunner(env={"COLUMNS": "160"}).invoke(main.app, [verb, "--help"]).stdout
    options = shown[shown.index("Options"):]
    for placeholder in ("SIZE", "HOST:CONTAINER[:ro|:rw]", "HOST:CONTAINER[/udp]",
                        "NAME=VALUE", "IMAGE", "PORTS"):
        assert f" {placeholder} " in options, placeholder
    rows = [line for line in options.splitlines() if "--help" not in line]
    assert not any("<list[str]>" in row or "<bool>" in row for row in rows), options
    usage = next(line for line in shown.splitlines() if "Usage:" in line)
    assert f"{verb} [OPTIONS] [IMAGE [COMMAND]]" in usage


def test_log_options_take_dockers_names() -> None:
    from stockade.cli.main import log_options
    from stockade.spec import LogOptions

    assert LogOptions.model_validate(log_options(["max-size=1m", "max-file=3"])) == \
        LogOptions(max_bytes=1 << 20, max_files=3)
    for bad in (["max-size"], ["size=1m"], ["max-files=2"]):
        with pytest.raises(InvalidSpec, match="--log-opt"):
            log_options(bad)
    with pytest.raises(ValueError, match="64K"):
        LogOptions.model_validate(log_options(["max-size=1k"]))
