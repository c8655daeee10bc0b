"""The process of an `exec` into a running container, derived from its init's."""

import copy
from typing import Any

from stockade.policy.landlock import INIT_PATH


def _through_init(init_args: list[str], args: list[str]) -> list[str]:
    """Reuse the init's Landlock rules in exec mode (-e), so exec is restricted too."""
    if not init_args or init_args[0] != INIT_PATH or "--" not in init_args:
        return list(args)
    rules = init_args[1:init_args.index("--")]
    return [INIT_PATH, "-e", *rules, "--", *args]


def exec_process(base: dict[str, Any], args: list[str], env: dict[str, str],
                 terminal: bool, cwd: str | None = None,
                 user: tuple[int, int] | None = None) -> dict[str, Any]:
    """Same capabilities, rlimits and no_new_privs as init; new args, env, tty, user."""
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
    process.pop("consoleSize", None)
    return process
