"""The daemon's settings: defaults, then the settings file (/etc/stockade/stockade.toml),
then environment variables, then command-line flags, each stronger than the one before.

Every value remembers where it came from, so `stockade config show` can say why the daemon
uses it. The file's top level holds the daemon's keys, its `[engine]` table the engine's
(`[engine.network]` the network's); see docs/operations.md for an annotated example.
"""

import json
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from stockade.api.config import ServerConfig
from stockade.errors import InvalidSpec
from stockade.wire import SETTINGS_FILE, SETTINGS_VARIABLE

DEFAULT_FILE = SETTINGS_FILE
FILE_VARIABLE = SETTINGS_VARIABLE
DEFAULT = "default"


def _words(value: str) -> list[str]:
    return [part for part in value.split(":") if part]


def _json_file(value: str) -> Any:
    try:
        return json.loads(Path(value).read_text())
    except (OSError, ValueError) as exc:
        raise InvalidSpec(f"cannot read {value}: {exc}") from exc


# Each variable sets one key; an empty variable counts as unset, as it always has.
ENVIRONMENT: dict[str, tuple[str, Callable[[str], Any]]] = {
    "STOCKADE_SOCKET": ("socket", str),
    "STOCKADE_LOG_LEVEL": ("log_level", str),
    "STOCKADE_LOG_FORMAT": ("log_format", str),
    "STOCKADE_ROOT": ("engine.root", str),
    "STOCKADE_ID_BASE": ("engine.id_base", str),
    "STOCKADE_CGROUP_PARENT": ("engine.cgroup_parent", str),
    "STOCKADE_BIND_ALLOWLIST": ("engine.bind_allowlist", _words),  # colon-separated paths
    "STOCKADE_RUNC": ("engine.runc_binary", str),
    "STOCKADE_QUOTA_BACKEND": ("engine.quota_backend", str),
    "STOCKADE_NETWORK_CONFIG": ("engine.network", _json_file),  # a JSON file: the table
}


@dataclass(frozen=True)
class Loaded:
    config: ServerConfig
    file: Path | None  # the settings file read, if any
    sources: dict[str, str]  # dotted key -> "default", "file PATH", "env NAME" or "flag"

    def rows(self) -> list[tuple[str, Any, str]]:
        """(key, value as JSON data, source) for every setting, in the model's order."""
        values = _leaves(self.config.model_dump(mode="json"))
        return [(key, value, self.sources.get(key, DEFAULT))
                for key, value in values.items()]

    def shown(self) -> dict[str, Any]:
        """What `config show` prints: {"file", "settings": [{key, value, source}]}."""
        return {"file": str(self.file) if self.file else None,
                "settings": [{"key": k, "value": v, "source": s} for k, v, s in self.rows()]}


def _leaves(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted keys of every non-table value; None and lists count as values."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            out |= _leaves(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def _place(tree: dict[str, Any], dotted: str, value: Any) -> None:
    *tables, last = dotted.split(".")
    for table in tables:
        inner = tree.setdefault(table, {})
        if not isinstance(inner, dict):  # a file that gave a table's name a plain value
            raise InvalidSpec(f"invalid setting {dotted}: {table} must be a table")
        tree = inner
    tree[last] = value


def _file(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InvalidSpec(f"cannot read settings file {path}: {exc}") from exc


def settings_file(flag: Path | None, environ: Mapping[str, str]) -> tuple[Path, bool]:
    """The file to read and whether it was named (a named file must exist)."""
    if flag is not None:
        return flag, True
    named = environ.get(FILE_VARIABLE)
    return (Path(named), True) if named else (DEFAULT_FILE, False)


def load(flag_file: Path | None = None, environ: Mapping[str, str] | None = None,
         flags: Mapping[str, Any] | None = None) -> Loaded:
    """The effective settings. `flags` maps dotted keys to values; None means not given."""
    environ = os.environ if environ is None else environ
    path, named = settings_file(flag_file, environ)
    merged: dict[str, Any] = {}
    sources: dict[str, str] = {}
    read: Path | None = None
    if named or path.exists():
        read = path
        from_file = _file(path)
        merged = from_file
        sources |= dict.fromkeys(_leaves(from_file), f"file {path}")
    layers: list[tuple[str, str, Any]] = [
        (key, f"env {name}", parse(environ[name]))
        for name, (key, parse) in ENVIRONMENT.items() if environ.get(name)]
    layers += [(key, "flag", value) for key, value in (flags or {}).items() if value is not None]
    for key, source, value in layers:
        _place(merged, key, value)
        # a table given whole (the network file) is the source of everything under it
        sources = {k: v for k, v in sources.items() if not k.startswith(key + ".")}
        sources |= dict.fromkeys(_leaves(value, key + ".") if isinstance(value, Mapping)
                                 else [key], source)
    try:
        config = ServerConfig.model_validate(merged)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        origin = next((s for k, s in sorted(sources.items(), key=lambda kv: -len(kv[0]))
                       if where == k or where.startswith(k + ".")
                       or k.startswith(where + ".")), None)
        hint = f" (from {origin})" if origin else ""
        raise InvalidSpec(f"invalid setting {where}{hint}: {first['msg']}") from exc
    return Loaded(config=config, file=read, sources=sources)
