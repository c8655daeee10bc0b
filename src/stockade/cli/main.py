"""The `stockade` command line: read the line, run its command, turn errors into exit codes.

Why argparse (the standard library's parser) and not typer or click: start-up, measured
here (docs/performance.md, section 7). A one-shot command such as `stockade ps` pays for
what it imports before it does anything, and `podman ps`, the same job in Go, takes about
25 ms. The smallest typer program (typer 0.29) took 143 ms: it loads click, rich and
pydantic and builds a pydantic TypeAdapter for every parameter, and `stockade ps` took
232 ms on it. argparse imports in about 6 ms and building one command's parser takes well
under a millisecond, so the parser is no longer what `ps` waits for. What typer gave us
for free is written out here and in cli/parser.py: docker's reading of `run IMAGE
COMMAND...`, `-h`, `--version`, readable placeholders, shell completion from the tree
(cli/completion.py).

Nothing heavy is imported before it is needed: the parser is plain data
(cli/parser.py), each command's module is imported once the line names it, and the
modules import pydantic (the spec, the wire models), websockets or rich only inside the
commands that use them; `ps`, `inspect`, `version` and the other commands that print the
daemon's JSON use `JsonClient` and load no model (tests/unit/test_cli_imports.py checks).

Exit codes, as docker's: the command's own for `run` and `exec`; 125 for a platform error,
with one line on stderr; 127 when the command to run is not in the container and 126 when
it is there but cannot be executed (a directory, a file without an execute bit), each also
one line, and the create that found it undone; 2 for a command line that cannot be read
(argparse's usage error); 130 on ^C; 141 when the reader of our output went away
(`stockade ps | head`).
"""

import contextlib
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from stockade.cli import parser as commands
from stockade.cli.session import Options
from stockade.errors import CommandNotFound, CommandNotRunnable, StockadeError

PLATFORM_ERROR = 125  # docker's code for "the platform failed", distinct from the app's own
COMMAND_NOT_RUNNABLE = 126  # docker's and the shell's: there, but not executable
COMMAND_NOT_FOUND = 127  # docker's and the shell's: no such command
INTERRUPTED = 130  # 128 + SIGINT, as a shell reports ^C
BROKEN_PIPE = 141  # 128 + SIGPIPE

Handler = Callable[[Any], int | None]


def handler(name: str) -> Handler:
    """The function a command names as "module:function" under stockade.cli."""
    module, function = name.split(":")
    found: Handler = getattr(importlib.import_module(f"stockade.cli.{module}"), function)
    return found


def run(argv: Sequence[str]) -> int:
    """Runs one command line (without the program's name); its exit code. Usage errors,
    -h and --version exit from argparse (SystemExit)."""
    parsed = commands.parse(argv)
    top = parsed.globals
    args = parsed.args
    args.options = Options.from_globals(top)
    args.parser = parsed.parser
    assert parsed.command.handler is not None  # a group without a subcommand exited
    if parsed.command.local:
        args.options.local_only(parsed.command.local)
    return handler(parsed.command.handler)(args) or 0


def exit_code(error: StockadeError) -> int:
    """The code a failed command exits with: 127 or 126 for a command that cannot be run,
    as docker; 125 for every other platform error."""
    if isinstance(error, CommandNotFound):
        return COMMAND_NOT_FOUND
    if isinstance(error, CommandNotRunnable):
        return COMMAND_NOT_RUNNABLE
    return PLATFORM_ERROR


def _fail(message: str, code: int = PLATFORM_ERROR) -> None:
    print(f"stockade: error: {message}", file=sys.stderr)
    sys.exit(code)


def main(argv: Sequence[str] | None = None) -> None:
    try:
        code = run(sys.argv[1:] if argv is None else argv)
    except StockadeError as exc:
        _fail(str(exc), exit_code(exc))
    except KeyboardInterrupt:
        sys.exit(INTERRUPTED)
    except BrokenPipeError:
        _quiet_stdout()
        sys.exit(BROKEN_PIPE)
    except OSError as exc:
        _fail(str(exc))
    except Exception as exc:
        _fail_invalid(exc)
    else:
        sys.exit(code)


def _quiet_stdout() -> None:
    """The reader went away: what is still buffered goes nowhere, with no error at exit."""
    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _fail_invalid(exc: Exception) -> None:
    """A spec the CLI built from bad flags: pydantic's error, in one line."""
    if "pydantic" not in sys.modules:  # nothing was validated, so it is not a ValidationError
        raise exc
    from pydantic import ValidationError

    from stockade.spec.validation import first_error

    if not isinstance(exc, ValidationError):
        raise exc
    _fail(first_error(exc.errors(), located="invalid {where}: {message}"))


if __name__ == "__main__":
    main()
