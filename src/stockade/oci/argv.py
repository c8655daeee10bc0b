"""runc's command line, read with plain string operations.

Imported on every call, so it imports nothing. runc parses flags the Go way: one or two
dashes, `--name value` or `--name=value`, and flags end at the first positional argument
or at `--`.
"""

# runc 1.1's global flags; everything else before the command is a boolean flag.
_GLOBAL_VALUE_FLAGS = frozenset({"log", "log-format", "root", "criu", "rootless"})
_GLOBAL_BOOL_FLAGS = frozenset({"debug", "systemd-cgroup", "help", "h", "version", "v"})

# Per command: value flags, boolean flags, and short aliases. Only the commands that
# stockade-oci rewrites are described; they fail closed on a flag they do not know.
_CREATE_VALUES = frozenset({"bundle", "console-socket", "pid-file", "preserve-fds"})
_CREATE_BOOLS = frozenset({"no-pivot", "no-new-keyring", "help"})
_COMMAND_FLAGS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "create": (_CREATE_VALUES, _CREATE_BOOLS),
    "run": (_CREATE_VALUES, _CREATE_BOOLS | {"detach", "keep"}),
    "exec": (
        frozenset({"console-socket", "pid-file", "cwd", "env", "user", "additional-gids",
                   "process", "apparmor", "process-label", "cap", "preserve-fds", "cgroup"}),
        frozenset({"tty", "detach", "no-new-privs", "ignore-paused", "no-subreaper", "help"}),
    ),
}
_ALIASES = {"b": "bundle", "d": "detach", "t": "tty", "e": "env", "u": "user",
            "g": "additional-gids", "p": "process", "c": "cap", "h": "help"}

REWRITTEN = frozenset(_COMMAND_FLAGS)


class UsageError(Exception):
    """A command line stockade-oci cannot read with certainty."""


def _flag(arg: str) -> tuple[str, str | None] | None:
    """('name', value or None) for a flag argument; None for a positional one."""
    if len(arg) < 2 or not arg.startswith("-"):
        return None
    name, eq, value = arg.lstrip("-").partition("=")
    return name, (value if eq else None)


def command_index(argv: list[str]) -> int:
    """Where the command word is in argv (len(argv) when there is none)."""
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            return i + 1
        flag = _flag(arg)
        if flag is None:
            return i
        name, value = flag
        i += 2 if name in _GLOBAL_VALUE_FLAGS and value is None else 1
    return i


class GlobalOptions:
    """The global flags stockade-oci cares about."""

    def __init__(self) -> None:
        self.root = "/run/runc"
        self.log: str | None = None
        self.log_format = "text"
        self.systemd_cgroup = False


def global_options(args: list[str]) -> GlobalOptions:
    options = GlobalOptions()
    i = 0
    while i < len(args):
        flag = _flag(args[i])
        i += 1
        if flag is None:
            continue
        name, value = flag
        if name in _GLOBAL_VALUE_FLAGS and value is None:
            value = args[i] if i < len(args) else ""
            i += 1
        if name == "root":
            options.root = value or options.root
        elif name == "log":
            options.log = value
        elif name == "log-format":
            options.log_format = value or "text"
        elif name == "systemd-cgroup":
            options.systemd_cgroup = value in (None, "true", "1")
        elif name not in _GLOBAL_VALUE_FLAGS | _GLOBAL_BOOL_FLAGS:
            raise UsageError(f"unknown global flag {args[i - 1]!r}")
    return options


class CommandArgs:
    """One command's flags (canonical names, every value in order) and positionals."""

    def __init__(self) -> None:
        self.values: dict[str, list[str]] = {}
        # argv index of the token holding a flag's last value, and whether it is `--f=v`
        self.value_at: dict[str, tuple[int, bool]] = {}
        self.bools: dict[str, bool] = {}
        self.positional: list[str] = []

    def last(self, name: str) -> str | None:
        found = self.values.get(name)
        return found[-1] if found else None


def command_args(command: str, args: list[str], offset: int = 0) -> CommandArgs:
    """Parse the arguments after `command`; `offset` is their start in the full argv."""
    value_flags, bool_flags = _COMMAND_FLAGS[command]
    parsed = CommandArgs()
    i = 0
    while i < len(args):
        arg = args[i]
        flag = _flag(arg)
        if arg == "--" or flag is None:
            parsed.positional = args[i + (arg == "--"):]
            return parsed
        name, value = flag
        name = _ALIASES.get(name, name)
        if name in value_flags:
            if value is None:
                if i + 1 >= len(args):
                    raise UsageError(f"flag {arg!r} needs a value")
                i += 1
                value = args[i]
                parsed.value_at[name] = (offset + i, False)
            else:
                parsed.value_at[name] = (offset + i, True)
            parsed.values.setdefault(name, []).append(value)
        elif name in bool_flags:
            if value not in (None, "true", "false", "1", "0"):
                raise UsageError(f"flag {arg!r} takes no value")
            parsed.bools[name] = value in (None, "true", "1")
        else:
            raise UsageError(f"unknown flag {arg!r} for {command}")
        i += 1
    return parsed


def replace_value(argv: list[str], at: tuple[int, bool], new: str) -> list[str]:
    """argv with one flag's value (located by CommandArgs.value_at) replaced."""
    index, inline = at
    token = argv[index]
    out = list(argv)
    out[index] = token.partition("=")[0] + "=" + new if inline else new
    return out
