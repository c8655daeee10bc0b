"""The command line's shape: every command, subcommand, option and help text.

Declarations only. The tree of `Command`s is plain data; a command's argparse parser is
built when the command line names it (building all of them costs about 8 ms, more than
any other step of `stockade ps` but the interpreter's start), and each command names its
handler as "module:function" under stockade.cli, which cli/main.py imports once the line
is read, so reading it loads no command.

Two rules argparse does not have, both docker's (and click's, which this replaced):
- the token after an option that takes a value is its value, even when it begins with `-`
  (`--memory -5M` reaches validation, which says why it is wrong);
- `run`, `create` and `exec` stop reading options at their first positional: what follows
  the image (or the handle) is the command's, `-l` included (`run busybox ls -l`); so do
  the command groups (`stockade [OPTIONS] COMMAND ...`, `stockade image COMMAND ...`).
"""

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from stockade import __version__

DEFAULT_IMAGE = "busybox"  # the embedded image: what `run -- CMD` runs in
USAGE_ERROR = 2  # argparse's code for a command line it cannot read


class Formatter(argparse.HelpFormatter):
    """`-m, --memory SIZE` (the value named once, as click and docker print it), the
    terminal's width (COLUMNS), and a wider column for the options."""

    def __init__(self, prog: str) -> None:
        columns = os.environ.get("COLUMNS", "")
        width = int(columns) if columns.isdigit() else _terminal_columns()
        super().__init__(prog, max_help_position=32, width=max(width, 40) - 2)

    def _format_action_invocation(self, action: argparse.Action) -> str:
        if not action.option_strings or action.nargs == 0:
            return super()._format_action_invocation(action)
        value = self._format_args(action, action.dest.upper())
        return f"{', '.join(action.option_strings)} {value}"


def _terminal_columns() -> int:
    try:
        return os.get_terminal_size(sys.stdout.fileno()).columns
    except (AttributeError, ValueError, OSError):
        return 100


class Positional(NamedTuple):
    """A positional argument: its name in help and usage, how many, and what it is."""

    metavar: str
    nargs: str | None = None  # None: exactly one; "?", "*" or "+" as argparse
    help: str | None = None
    dest: str | None = None

    @property
    def usage(self) -> str:
        return {"?": f"[{self.metavar}]", "*": f"[{self.metavar}...]",
                "+": f"{self.metavar}..."}.get(self.nargs or "", self.metavar)


class Parser(argparse.ArgumentParser):
    """An argparse parser that also knows which of its options take a value (to read the
    next token as the value, whatever it begins with), and which stops reading options at
    its first positional (`positional_tail`: what follows is left in `rest`, as typed)."""

    def __init__(self, *args: Any, positional_tail: bool = False,
                 listing: Sequence[tuple[str, str]] = (), **kwargs: Any) -> None:
        self.takes_value: dict[str, str] = {}  # option string -> its metavar
        self.flags: list[str] = []
        self.options: list[str] = []  # every option string, in the order declared
        self.positional_tail = positional_tail
        self.listing = listing  # a group's subcommands and their help, for --help
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", Formatter)
        kwargs.setdefault("add_help", False)
        super().__init__(*args, **kwargs)
        self.add_argument("-h", "--help", action="help", default=argparse.SUPPRESS,
                          help="Show this message and exit.")

    def add_argument(self, *names: Any, **kwargs: Any) -> argparse.Action:
        if kwargs.get("required") and kwargs.get("help"):
            kwargs["help"] += " [required]"
        action = super().add_argument(*names, **kwargs)
        self.options += action.option_strings
        if action.nargs == 0:
            self.flags += action.option_strings
        else:
            for option in action.option_strings:
                self.takes_value[option] = str(action.metavar or action.dest.upper())
        return action

    def format_help(self) -> str:
        text = super().format_help()
        if not self.listing:
            return text
        formatter = self._get_formatter()
        formatter.start_section("commands")
        for name, help in self.listing:
            formatter.add_argument(argparse.Action([], name, help=help, metavar=name))
        formatter.end_section()
        formatter.add_text(f"Run '{self.prog} COMMAND --help' for a command's options.")
        return f"{text}\n{formatter.format_help()}"

    # -- reading a command line --------------------------------------------------------------

    def parse_known_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                         namespace: argparse.Namespace | None = None,
                         ) -> tuple[argparse.Namespace, list[str]]:
        tokens = list(sys.argv[1:] if args is None else args)
        if not self.positional_tail:
            return super().parse_known_args(self._with_values(tokens), namespace)
        options, rest = self._split(tokens)
        found, extra = super().parse_known_args(options, namespace)
        found.rest = rest
        return found, extra

    def _option_end(self, tokens: list[str], index: int) -> tuple[str, int]:
        """The option at `index`, with its value joined to it (`--name=VALUE`, `-mVALUE`)
        when it takes the next token as its value; and the index after it."""
        token = tokens[index]
        following = index + 1 < len(tokens)
        if token.startswith("--"):
            if "=" not in token and token in self.takes_value and following:
                return f"{token}={tokens[index + 1]}", index + 2
            return token, index + 1
        for at in range(1, len(token)):  # a cluster of short options: -dit, -dp8080:80
            option = f"-{token[at]}"
            if option in self.takes_value:
                if at == len(token) - 1 and following:
                    return token + tokens[index + 1], index + 2
                break
            if option not in self.flags:
                break
        return token, index + 1

    def _with_values(self, tokens: list[str]) -> list[str]:
        """The tokens with each option's value joined to it, up to `--`."""
        done: list[str] = []
        index = 0
        while index < len(tokens):
            token = tokens[index]
            if token == "--":
                return done + tokens[index:]
            if _is_option(token):
                token, index = self._option_end(tokens, index)
            else:
                index += 1
            done.append(token)
        return done

    def _split(self, tokens: list[str]) -> tuple[list[str], list[str]]:
        """Options up to the first positional or `--`; the rest as typed (from `--`)."""
        options: list[str] = []
        index = 0
        while index < len(tokens) and _is_option(tokens[index]) and tokens[index] != "--":
            option, index = self._option_end(tokens, index)
            options.append(option)
        return options, tokens[index:]


def _is_option(token: str) -> bool:
    return token.startswith("-") and token != "-"


# -- the tree ------------------------------------------------------------------------------

Declare = Callable[[Parser], None]


class Command(NamedTuple):
    """One command: its handler ("module:function" under stockade.cli), what it does, its
    positionals and a function adding its options; or, for a group (`image`), its
    subcommands."""

    name: str
    help: str
    handler: str | None = None
    positionals: tuple[Positional, ...] = ()
    declare: Declare | None = None
    subcommands: tuple["Command", ...] = ()
    usage: str | None = None
    positional_tail: bool = False
    local: str = ""  # why it needs the daemon's own host: refused with a tcp:// --host


    def find(self, name: str) -> "Command | None":
        return next((c for c in self.subcommands if c.name == name), None)

    def parser(self, prog: str) -> Parser:
        """This command's parser (and only its own: a group's subcommands are listed)."""
        shown = " ".join(p.usage for p in self.positionals)
        if self.subcommands:
            usage = self.usage or "%(prog)s [OPTIONS] COMMAND [ARGS]..."
        else:
            usage = self.usage or f"%(prog)s [OPTIONS]{' ' + shown if shown else ''}"
        built = Parser(prog=prog, usage=usage, description=self.help,
                       positional_tail=self.positional_tail or bool(self.subcommands),
                       listing=[(c.name, c.help) for c in self.subcommands])
        for positional in self.positionals:  # with a tail: shown in help, read from `rest`
            built.add_argument(positional.dest or positional.metavar.lower(),
                               metavar=positional.metavar, help=positional.help,
                               nargs="*" if self.positional_tail else positional.nargs)
        if self.declare is not None:
            self.declare(built)
        return built


def _json(parser: Parser) -> None:
    parser.add_argument("--json", action="store_true", help="Print JSON for scripts.")


def _no_trunc(parser: Parser) -> None:
    parser.add_argument("--no-trunc", action="store_true",
                        help="Print every column and every value whole, however long the "
                             "line.")


def _table(parser: Parser) -> None:
    _json(parser)
    _no_trunc(parser)


def _format(parser: Parser, example: str) -> None:
    parser.add_argument("--format", metavar="TEMPLATE",
                        help=f"Print each item through a template: {example}; a 'table ' "
                             "prefix adds a header.")


def _natural(text: str) -> int:
    """An int of at least 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is not in the range x>=0")
    return value


def _protocol(parser: Parser) -> None:
    parser.add_argument("--protocol", metavar="PROTOCOL", default="tcp",
                        help="tcp or udp. [default: tcp]")


HANDLE = Positional("HANDLE", help="The container.")
HANDLES = Positional("HANDLE", "+", "Containers.", dest="handles")
NAME = Positional("NAME")

# -- containers: run and create share one option list ---------------------------------------


def add_limit_options(parser: Parser) -> None:
    """The limits `run`, `create` and `update` set."""
    parser.add_argument("-m", "--memory", metavar="SIZE", help="Memory limit, e.g. 256M.")
    parser.add_argument("--cpu-shares", metavar="SHARES", type=int,
                        help="Overrides shares from memory.")
    parser.add_argument("--cpus", metavar="CPUS", type=float,
                        help="CPU time, in CPUs (e.g. 1.5), on top of the shares.")
    parser.add_argument("--pids", "--pids-limit", metavar="N", type=int, dest="pids",
                        help="Maximum processes.")
    parser.add_argument("--disk", metavar="SIZE", help="Writable layer quota, e.g. 1G.")


def add_container_options(parser: Parser) -> None:
    """Every option of `run` and `create`, written once: the container they describe."""
    parser.add_argument("--name", metavar="NAME", help="Container handle.")
    parser.add_argument("--image", metavar="IMAGE",
                        help="Image name; the same as IMAGE before the command.")
    add_limit_options(parser)
    parser.add_argument("-e", "--env", metavar="NAME=VALUE", action="append",
                        help="Environment variable (repeatable).")
    parser.add_argument("--env-file", metavar="FILE", action="append", dest="env_files",
                        help="NAME=VALUE lines (# comments; NAME alone takes ours).")
    parser.add_argument("-u", "--user", metavar="USER", help="NAME, UID or UID:GID.")
    parser.add_argument("-w", "--workdir", metavar="DIR",
                        help="Working directory inside the container.")
    parser.add_argument("--entrypoint", metavar="COMMAND",
                        help="Replace the image's entrypoint (and its command); '' for none.")
    parser.add_argument("--hostname", metavar="NAME", help="The container's host name.")
    parser.add_argument("-l", "--label", metavar="KEY=VALUE", action="append", dest="labels",
                        help="A property of the container (repeatable).")
    parser.add_argument("-v", "--volume", metavar="HOST:CONTAINER[:ro|:rw]", action="append",
                        dest="volumes", help="Bind a host path (repeatable).")
    parser.add_argument("--cap-add", metavar="CAP", action="append",
                        help="Add back one of Docker's defaults.")
    parser.add_argument("--cpuset-cpus", metavar="CPUS", help="Pin to CPUs, e.g. 0.")
    parser.add_argument("--writable", metavar="PATH", action="append",
                        help="Another writable directory.")
    parser.add_argument("--unsafe-disable-seccomp", action="store_true",
                        help="UNSAFE: no seccomp filter.")
    parser.add_argument("--unsafe-disable-userns", action="store_true",
                        help="UNSAFE: root inside is root on the host.")
    parser.add_argument("--unsafe-disable-mac", action="store_true",
                        help="UNSAFE: no Landlock/AppArmor.")
    parser.add_argument("--unsafe-cap-add", metavar="CAP", action="append",
                        help="UNSAFE: any extra capability.")
    parser.add_argument("-p", "--publish", metavar="HOST:CONTAINER[/udp]", action="append",
                        help="HOSTPORT:CONTAINERPORT, or CONTAINERPORT alone, or with /udp "
                             "(repeatable; host port 0, or none, picks one).")
    parser.add_argument("--security-group", metavar="NAME", action="append",
                        dest="security_groups",
                        help="Bind a security group to this container (repeatable).")
    parser.add_argument("--listen", metavar="PORTS",
                        help="TCP ports the application may bind besides published ones, "
                             "e.g. 8080,9000-9010 (Landlock).")
    parser.add_argument("--connect-ports", metavar="PORTS",
                        help="TCP ports the application may connect to, or 'none' (Landlock, "
                             "fixed for the container's life; default: the firewall alone "
                             "decides).")
    parser.add_argument("--allow-32bit", action="store_true",
                        help="Admit 32-bit (i386) programs: a wider kernel surface "
                             "(docs/security-model.md).")
    parser.add_argument("--log-opt", metavar="max-size=SIZE|max-file=N", action="append",
                        dest="log_opts",
                        help="The log's cap per file and how many files are kept (default "
                             "10M, 2).")
    parser.add_argument("-t", "--tty", action="store_true", help="Allocate a terminal.")


def _run(parser: Parser) -> None:
    add_container_options(parser)
    parser.add_argument("-d", "--detach", action="store_true",
                        help="Run in the background; print the handle.")
    parser.add_argument("-i", "--interactive", action="store_true", help="Keep stdin open.")
    parser.add_argument("--rm", action="store_true", help="Destroy when the process ends.")


def _create(parser: Parser) -> None:
    add_container_options(parser)
    parser.add_argument("-i", "--interactive", action="store_true",
                        help="Keep stdin open for an attacher.")


def _exec(parser: Parser) -> None:
    parser.add_argument("-e", "--env", metavar="NAME=VALUE", action="append",
                        help="Environment variable (repeatable).")
    parser.add_argument("-u", "--user", metavar="USER", help="NAME, UID or UID:GID.")
    parser.add_argument("-i", "--interactive", action="store_true", help="Keep stdin open.")
    parser.add_argument("-t", "--tty", action="store_true", help="Allocate a terminal.")


def _ps(parser: Parser) -> None:
    _table(parser)
    parser.add_argument("-a", "--all", action="store_true",
                        help="Every container, not only running ones.")
    parser.add_argument("-q", "--quiet", action="store_true", help="Handles only.")
    parser.add_argument("-f", "--filter", metavar="KEY=VALUE", action="append",
                        dest="filters",
                        help="name=PART, label=K[=V] or status=STATE (repeatable).")
    _format(parser, "{{.handle}}, {{.limits.pids}}, {{json .}}")


def _inspect(parser: Parser) -> None:
    _table(parser)
    _format(parser, "{{.handle}}, {{.limits.pids}}, {{json .}}")


def _logs(parser: Parser) -> None:
    parser.add_argument("-f", "--follow", action="store_true",
                        help="Keep printing output until the container ends.")
    parser.add_argument("--tail", metavar="N", default="all",
                        help="Only the last N lines (records), or all. [default: all]")
    parser.add_argument("--since", metavar="TIME",
                        help="Only output since TIME: RFC 3339 (2026-12-05T11:54:59Z), unix "
                             "time, or a duration ago (10m, 1h30m).")
    parser.add_argument("--until", metavar="TIME",
                        help="Only output before TIME (as --since).")
    parser.add_argument("-t", "--timestamps", action="store_true",
                        help="Begin each line with its time.")
    parser.add_argument("--stdout", action="store_true", help="Only stdout.")
    parser.add_argument("--stderr", action="store_true", help="Only stderr.")


def _stop(parser: Parser) -> None:
    parser.add_argument("--time", metavar="SECONDS", type=float, default=10.0,
                        help="Seconds before KILL. [default: 10]")


def _rm(parser: Parser) -> None:
    parser.add_argument("-f", "--force", action="store_true",
                        help="Kill and remove a running container.")


def _kill(parser: Parser) -> None:
    parser.add_argument("-s", "--signal", metavar="SIGNAL", default="KILL",
                        help="Signal to send (name or number). [default: KILL]")


def _attach(parser: Parser) -> None:
    parser.add_argument("--no-stdin", action="store_true",
                        help="Do not send our input to the process.")
    parser.add_argument("--logs", action="store_true",
                        help="Replay the output the log still holds before following.")


def _update(parser: Parser) -> None:
    add_limit_options(parser)
    _json(parser)


_IMAGE_COMMAND = Positional("IMAGE [COMMAND [ARG...]]", "*", dest="image_command",
                            help="The image, then the command; or -- COMMAND for the "
                                 "embedded image.")
_RUN_USAGE = ("%(prog)s [OPTIONS] IMAGE [COMMAND [ARG...]]\n"
              "       %(prog)s [OPTIONS] -- COMMAND [ARG...]")

CONTAINERS = (
    Command("run", "Run a command in a new hardened container; exits with the command's "
            "code.", "containers:run", (_IMAGE_COMMAND,), _run, usage=_RUN_USAGE,
            positional_tail=True),
    Command("create", "Create a container without starting it; prints its handle.",
            "containers:create", (_IMAGE_COMMAND,), _create, usage=_RUN_USAGE,
            positional_tail=True),
    Command("start", "Start a created container.", "containers:start", (HANDLE,)),
    Command("exec", "Run a command in a running container.", "containers:exec_",
            (HANDLE, Positional("COMMAND [ARG...]", "*", "Command and arguments.",
                                dest="exec_command")), _exec,
            usage="%(prog)s [OPTIONS] HANDLE [--] COMMAND [ARG...]", positional_tail=True),
    Command("ps", "List running containers (-a: all of them).", "listing:ps", (), _ps),
    Command("inspect", "Show one container.", "listing:inspect", (HANDLE,), _inspect),
    Command("logs", "Print what a container wrote: its stdout to stdout, its stderr to "
            "stderr.", "logs_view:logs", (HANDLE,), _logs),
    Command("stop", "Stop a container: TERM, then KILL after --time seconds.",
            "containers:stop", (HANDLE,), _stop),
    Command("restart", "Stop containers (TERM, KILL after --time) and run them again on "
            "their writable layer.", "containers:restart", (HANDLES,), _stop),
    Command("attach", "Follow a container's main process: its output, our input to it "
            "(^C detaches; the container runs on).", "containers:attach", (HANDLE,), _attach),
    Command("top", "List the processes of a container (pid and user as it sees them).",
            "listing:top", (HANDLE,), _json),
    Command("cp", "Copy files between a container and the host: cp HANDLE:PATH HOSTPATH, or "
            "cp HOSTPATH HANDLE:DIR.", "files:cp",
            (Positional("SRC", help="HANDLE:PATH or a host path."),
             Positional("DEST", help="A host path or HANDLE:DIR.")),),
    Command("destroy", "Destroy containers and everything they used.", "containers:destroy",
            (HANDLES,)),
    Command("rm", "Remove containers and everything they used; a running one only with -f.",
            "lifecycle_cli:rm", (HANDLES,), _rm),
    Command("kill", "Send a signal (KILL by default) to every process of running "
            "containers.", "lifecycle_cli:kill", (HANDLES,), _kill),
    Command("wait", "Block until containers stop, then print each one's exit code.",
            "lifecycle_cli:wait", (HANDLES,)),
    Command("update", "Change the limits of a container while it runs.", "containers:update",
            (HANDLE,), _update),
    Command("stats", "Memory, CPU, disk and network use per container.", "listing:stats",
            (Positional("HANDLE", "*", "Containers (default: all).", dest="handles"),),
            _table),
)

# -- the host, the daemon and its records -----------------------------------------------------


def _verify(parser: Parser) -> None:
    _json(parser)
    parser.add_argument("--strict", action="store_true",
                        help="Also fail on layers that are not enforced here.")
    _no_trunc(parser)


def _audit(parser: Parser) -> None:
    _json(parser)
    parser.add_argument("--verify", action="store_true",
                        help="Check the chain and the anchor; exit 1 and name each problem.")
    parser.add_argument("--tail", metavar="N", type=_natural,
                        help="Show only the last N records.")
    parser.add_argument("--anchor", metavar="HASH",
                        help="With --verify: a head hash saved elsewhere that the log must "
                             "still contain (implies --verify).")
    parser.add_argument("--root", metavar="PATH", type=Path, dest="audit_root",
                        help="State root (as the global --root).")
    _no_trunc(parser)


def _server(parser: Parser) -> None:
    parser.add_argument("--config", metavar="FILE", type=Path, dest="server_config",
                        help="Settings file (default /etc/stockade/stockade.toml).")
    parser.add_argument("-d", "--detach", action="store_true", help="Run in the background.")
    parser.add_argument("--stop", action="store_true", help="Stop the running daemon.")
    parser.add_argument("--log-level", metavar="LEVEL",
                        help="debug, info, warning or error (default info).")
    parser.add_argument("--log-format", metavar="FORMAT",
                        help="text or json (for log shippers).")
    parser.add_argument("--log-file", metavar="FILE", type=Path,
                        help="Log to this file, rotated by size, instead of stderr.")


def _events(parser: Parser) -> None:
    parser.add_argument("--since", metavar="SEQ", type=int, default=0,
                        help="Only events after this sequence number. [default: 0]")
    parser.add_argument("-f", "--follow", action="store_true", help="Wait for more.")
    parser.add_argument("--container", metavar="HANDLE", help="One container.")


def _net_in(parser: Parser) -> None:
    parser.add_argument("--host-port", metavar="PORT", type=int, required=True,
                        help="0 picks one.")
    parser.add_argument("--container-port", metavar="PORT", type=int, required=True,
                        help="The port inside the container.")
    parser.add_argument("--host-ip", metavar="ADDRESS",
                        help="Publish on this host address (IPv4) alone. [default: every "
                        "address]")
    _protocol(parser)
    _json(parser)


def _network_log(parser: Parser) -> None:
    parser.add_argument("-f", "--follow", action="store_true",
                        help="Keep printing new records.")
    parser.add_argument("--since", metavar="N", type=int, default=0,
                        help="Skip this many records. [default: 0]")


SYSTEM = (
    Command("info", "What this host offers and which mechanisms stockade uses.",
            "system_cli:info", (), _table),
    Command("cleanup", "Release what no container needs: network leftovers, the idle volume "
            "store, leftovers.", "system_cli:cleanup", (), _json),
    Command("verify", "Prove every hardening layer from inside; exit 0 only if every check "
            "passes.", "verify:verify",
            (Positional("HANDLE", "?", "A running container; without one a default container "
                        "is created, checked and destroyed."),), _verify),
    Command("audit", "Show the audit log, or check it with --verify.", "audit_cli:audit", (),
            _audit, local="`audit` reads the audit log's files, so it"),
    Command("server", "Run the API daemon on the unix socket (containers outlive it).",
            "server_cli:serve", (), _server, local="`server` runs the daemon here, so it"),
    Command("events", "Container events: exited, out of memory, unsafe options, Landlock "
            "denials; one JSON object a line.", "system_cli:events", (), _events),
    Command("version", "The client's and the daemon's versions, and the runc and kernel the "
            "daemon uses.", "system_cli:version", (), _json),
    Command("net-in", "Publish a container port on the host.", "network_cli:net_in",
            (HANDLE,), _net_in),
    Command("network-log", "Print logged and denied packets (the daemon records them as JSON "
            "lines).", "network_cli:network_log", (), _network_log),
    Command("completion", "Print a shell completion script from this command tree: "
            "eval \"$(stockade completion bash)\".", "completion:print_script",
            (Positional("SHELL", help="bash or zsh."),)),
)

# -- groups of subcommands --------------------------------------------------------------------


def _image_import(parser: Parser) -> None:
    parser.add_argument("--name", metavar="NAME", help="Name to register.")
    parser.add_argument("--keep-setuid", action="store_true", help="Keep setuid/setgid bits.")
    parser.add_argument("-q", "--quiet", action="store_true", help="No progress output.")
    _json(parser)


def _image_ls(parser: Parser) -> None:
    _table(parser)
    _format(parser, "{{.name}}, {{.size_bytes}}, {{json .in_use}}")


def _build_base(parser: Parser) -> None:
    parser.add_argument("--name", metavar="NAME", default="base",
                        help="Name to register. [default: base]")
    parser.add_argument("-q", "--quiet", action="store_true", help="No progress output.")
    _json(parser)


IMAGE = Command("image", "Manage images.", subcommands=(
    Command("import", "Import an image; layers are verified, unpacked safely and shared.",
            "image_commands:import_",
            (Positional("PATH", help="OCI layout or archive, docker archive, or root "
                        "filesystem tar or directory, on the daemon's host."),), _image_import,
            local="`image import` sends the daemon a path on its own host, so it"),
    Command("ls", "List images with their size, layers and the containers using them.",
            "image_commands:ls", (), _image_ls),
    Command("inspect", "Show one image: config, layers and, for the base image, its "
            "packages.", "image_commands:inspect", (NAME,), _table),
    Command("rm", "Remove images (refused while a container uses one) and their unshared "
            "layers.", "image_commands:rm", (Positional("NAME", "+", dest="names"),)),
    Command("gc", "Remove layers no image references and no container runs on.",
            "image_commands:gc", (), _json),
    Command("build-base", "Build the hardened Debian base image with debootstrap (minbase).",
            "image_commands:build_base", (), _build_base),
))


def _config_show(parser: Parser) -> None:
    _json(parser)
    parser.add_argument("--local", action="store_true",
                        help="Compute from the file and this environment instead of asking "
                             "the daemon (what a daemon started now would use).")


def _vulndb_update(parser: Parser) -> None:
    parser.add_argument("--from", metavar="FILE|URL", dest="source", required=True,
                        help="An OSV feed: a .zip of records as osv.dev publishes per "
                             "ecosystem, a JSON array or JSON lines; a file on the daemon's "
                             "host or an http(s) URL that the daemon fetches.")
    _json(parser)


def _harden(parser: Parser) -> None:
    parser.add_argument("--apply", action="store_true", help="Write and apply the drop-in.")
    parser.add_argument("--revert", action="store_true",
                        help="Restore the values found before and remove the drop-in.")
    parser.add_argument("--dry-run", action="store_true", help="Show, change nothing.")
    _json(parser)


def _rules(parser: Parser) -> None:
    parser.add_argument("--rules", metavar="FILE", type=Path, required=True,
                        help="JSON file: a list of rules.")


def _binding(parser: Parser) -> None:
    parser.add_argument("--container", metavar="HANDLE", help="Container handle.")
    parser.add_argument("--default", action="store_true", help="Every container (platform).")


def _policy(parser: Parser) -> None:
    parser.add_argument("--port", metavar="PORT", type=int, required=True,
                        help="Destination port.")
    _protocol(parser)


_ENDS = (Positional("SOURCE"), Positional("DESTINATION"))

GROUPS = (
    IMAGE,
    Command("config", "The daemon's settings.", subcommands=(
        Command("show", "Print the effective settings and where each came from.",
                "config_cli:show", (), _config_show),
    )),
    Command("vulndb", "The offline vulnerability database.", subcommands=(
        Command("update", "Replace the database with a feed; a bad feed keeps the loaded one.",
                "vulndb_cli:update", (), _vulndb_update),
        Command("status", "Show the loaded feed: where from, its date and its counts.",
                "vulndb_cli:status", (), _json),
    )),
    Command("host", "Check this host against the baseline and harden its sysctls "
            "(docs/host.md).", subcommands=(
        Command("check", "Every baseline item with its evidence and reason; exit 1 if any "
                "item fails.", "host_cli:check", (), _table),
        Command("harden", "Set the safe sysctls the check fails (without --apply or --revert: "
                "show the plan).", "host_cli:harden", (), _harden),
    )),
    Command("security-group", "Egress security groups.", subcommands=(
        Command("create", "Create a security group from a rules file.",
                "network_cli:group_create", (NAME,), _rules),
        Command("update", "Replace a group's rules; running containers follow at once.",
                "network_cli:group_update", (NAME,), _rules),
        Command("bind", "Bind a group to one container or to every container.",
                "network_cli:group_bind", (NAME,), _binding),
        Command("unbind", "Undo a binding.", "network_cli:group_unbind", (NAME,), _binding),
        Command("ls", "List groups and where they are bound.", "network_cli:group_ls", (),
                _table),
        Command("show", "Print a group's rules (the rules-file format).",
                "network_cli:group_show", (NAME,), _table),
        Command("rm", "Remove an unbound group.", "network_cli:group_rm", (NAME,)),
    )),
    Command("network-policy", "Container-to-container policy.", subcommands=(
        Command("allow", "Let SOURCE open connections to DESTINATION on one port (one "
                "direction).", "network_cli:policy_allow", _ENDS, _policy),
        Command("deny", "Withdraw an allow.", "network_cli:policy_deny", _ENDS, _policy),
        Command("ls", "List container-to-container allowances.", "network_cli:policy_ls", (),
                _table),
    )),
)


def _global(parser: Parser) -> None:
    parser.add_argument("--root", metavar="PATH", type=Path,
                        help="State and store root (STOCKADE_ROOT); for `server` and `audit`.")
    parser.add_argument("--socket", metavar="PATH", type=Path,
                        help="Daemon socket (STOCKADE_SOCKET).")
    parser.add_argument("--config", metavar="FILE", type=Path,
                        help="Settings file (STOCKADE_CONFIG; default "
                             "/etc/stockade/stockade.toml): where the CLI finds the daemon's "
                             "socket, and what `server` and `config show --local` read.")
    parser.add_argument("-H", "--host", metavar="URL",
                        help="The daemon: unix:///PATH, or tcp://HOST:PORT over TLS "
                             "(STOCKADE_HOST); instead of --socket.")
    parser.add_argument("--tlscacert", metavar="FILE", type=Path,
                        help="With a tcp:// host: the CA that signed the daemon's "
                             "certificate (STOCKADE_TLSCACERT; default: the system's).")
    parser.add_argument("--tlscert", metavar="FILE", type=Path,
                        help="With a tcp:// host: our client certificate "
                             "(STOCKADE_TLSCERT).")
    parser.add_argument("--tlskey", metavar="FILE", type=Path,
                        help="The client certificate's key, if not in its file "
                             "(STOCKADE_TLSKEY).")
    parser.add_argument("--token-file", metavar="FILE", type=Path,
                        help="With a tcp:// host: a file holding our bearer token "
                             "(STOCKADE_TOKEN_FILE).")
    parser.add_argument("--version", action="version", version=f"stockade {__version__}",
                        help="Print the client's version and exit.")


ROOT = Command("stockade", "Stockade: every application in its own hardened container.",
               declare=_global, subcommands=(*CONTAINERS, *SYSTEM, *GROUPS))


# -- reading a command line --------------------------------------------------------------------


class Parsed(NamedTuple):
    """What a command line asks for: the global options, the command and its arguments."""

    globals: argparse.Namespace
    command: Command
    args: argparse.Namespace
    parser: Parser


def parse(argv: Sequence[str]) -> Parsed:
    """Reads `argv` (without the program's name) down the tree, building only the parsers
    of the commands it names. A group named without a subcommand prints its help and exits
    2, as does a bare `stockade`; a mistyped command is a usage error."""
    node, parser = ROOT, ROOT.parser(ROOT.name)
    found = top = parser.parse_args(argv)
    while node.subcommands:
        rest: list[str] = found.rest
        if not rest:  # as click and docker: the help on stdout, and a usage error's code
            parser.print_help()
            raise SystemExit(USAGE_ERROR)
        child = node.find(rest[0])
        if child is None:
            choices = ", ".join(repr(c.name) for c in node.subcommands)
            parser.error(f"argument COMMAND: invalid choice: {rest[0]!r} (choose from "
                         f"{choices})")
        node, parser = child, child.parser(f"{parser.prog} {child.name}")
        found = parser.parse_args(rest[1:])
    if node.positional_tail:
        _check_tail(node, parser, found.rest)
    return Parsed(top, node, found, parser)


def _check_tail(node: Command, parser: Parser, rest: list[str]) -> None:
    """argparse's message when a positional a command needs (`exec HANDLE`) is missing."""
    given = rest[1:] if rest[:1] == ["--"] else rest
    needed = [p.metavar for p in node.positionals if p.nargs in (None, "+")]
    if len(given) < len(needed):
        parser.error(f"the following arguments are required: {', '.join(needed[len(given):])}")


def walk(node: Command = ROOT, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...],
                                                                         Command]]:
    """Every command of the tree, depth first, with the names leading to it."""
    found = [(path, node)]
    for child in node.subcommands:
        found += walk(child, (*path, child.name))
    return found
