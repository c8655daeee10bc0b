"""The process of an `exec` into a running container, derived from its init's."""

import copy
from typing import Any

from stockade.errors import InvalidSpec
from stockade.policy.landlock import INIT_PATH


def _through_init(init_args: list[str], args: list[str]) -> list[str]:
    """Reuse the init's Landlock rules in exec mode (-e), so exec is restricted too."""
    if not init_args or init_args[0] != INIT_PATH or "--" not in init_args:
        return list(args)
    rules = init_args[1:init_args.index("--")]
    return [INIT_PATH, "-e", *rules, "--", *args]


def _with_rlimits(current: list[dict[str, Any]], wanted: dict[str, int]) -> list[dict[str, Any]]:
    """An exec may tighten the init's limits or add others, never raise a hard limit it
    inherits (core dumps stay off, the open-file cap stays)."""
    limits = {str(item["type"]): dict(item) for item in current}
    for name, value in wanted.items():
        kind = f"RLIMIT_{name.upper()}"
        held = limits.get(kind)
        if held is not None and value > int(held["hard"]):
            raise InvalidSpec(f"rlimit {name}={value} is above the container's hard limit "
                              f"{held['hard']}")
        limits[kind] = {"type": kind, "soft": value, "hard": value}
    return list(limits.values())


def exec_process(base: dict[str, Any], args: list[str], env: dict[str, str],
                 terminal: bool, cwd: str | None = None,
                 user: tuple[int, int] | None = None,
                 rlimits: dict[str, int] | None = None,
                 console_size: tuple[int, int] | None = None) -> dict[str, Any]:
    """Same capabilities, rlimits and no_new_privs as init; new args, env, tty, user.

    `rlimits` maps lower-case names (nofile, nproc) to one value for soft and hard;
    `console_size` (rows, cols) sizes the terminal before the process starts."""
    process = copy.deepcopy(base)
    process["args"] = _through_init(base["args"], args)
    process["terminal"] = terminal
    merged = dict(item.partition("=")[::2] for item in process.get("env", []))
    merged.update(env)
    process["env"] = [f"{k}={v}" for k, v in merged.items()]
    if cwd is not None:
        process["cwd"] = cwd
    if user is not None:
        uid, gid = user
        process["user"] = {"uid": uid, "gid": gid, "additionalGids": []}
        held = process["capabilities"]["bounding"] if uid == 0 else []
        process["capabilities"]["effective"] = list(held)
        process["capabilities"]["permitted"] = list(held)
    if rlimits:
        process["rlimits"] = _with_rlimits(process.get("rlimits", []), rlimits)
    process.pop("consoleSize", None)
    if terminal and console_size is not None:
        process["consoleSize"] = {"height": console_size[0], "width": console_size[1]}
    return process
