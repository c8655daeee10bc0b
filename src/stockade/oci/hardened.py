"""The slow path: create and run rewrite the bundle, exec rewrites the process.

Imported only for those three commands, so it may import pydantic and stockade.policy.
"""

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from stockade.errors import StockadeError
from stockade.oci import facts as host_facts
from stockade.oci import oplog, staging
from stockade.oci.argv import (
    CommandArgs,
    GlobalOptions,
    UsageError,
    command_args,
    global_options,
    replace_value,
)
from stockade.oci.harden import Hardened, Refused, harden
from stockade.oci.policyfile import DEFAULT_PATH, OciPolicy, load_policy
from stockade.oci.rootfs import RootfsError, RootfsView, reachable
from stockade.oci.runc import NoRunc, exec_runc, run_runc
from stockade.policy.capabilities import DEFAULT_BOUNDING

_CAP_SETS = ("bounding", "effective", "permitted", "inheritable", "ambient")


class _Failed(StockadeError):
    """Stop before runc runs; the message goes to stderr and both logs."""


def run_hardened(argv: list[str], index: int) -> int:
    """Entry for create, run and exec; `index` is where the command word is in argv."""
    command = argv[index]
    options = GlobalOptions()
    try:
        options = global_options(argv[:index])
        args = command_args(command, argv[index + 1:], index + 1)
        if args.bools.get("help"):
            return exec_runc(argv)
        if command == "exec":
            return _exec(argv, options, args)
        return _create(argv, command, options, args)
    except (StockadeError, UsageError, NoRunc, OSError, ValueError, KeyError, TypeError) as err:
        # Fail closed with one line: a bundle or command line we cannot read is refused.
        message = f"stockade-oci: {err}"
        print(message, file=sys.stderr)
        oplog.runc_log(options.log, options.log_format, "error", message)
        return 1


def _policy_path() -> Path:
    return Path(os.environ.get("STOCKADE_OCI_POLICY") or DEFAULT_PATH)


# --- create and run ---------------------------------------------------------------------


def _create(argv: list[str], command: str, options: GlobalOptions, args: CommandArgs) -> int:
    if not args.positional:
        raise _Failed(f"{command} needs a container id")
    container_id = args.positional[0]
    if not staging.valid_id(container_id):
        raise _Failed(f"invalid container id {container_id!r}")
    bundle = Path(args.last("bundle") or os.getcwd()).absolute()
    policy = load_policy(_policy_path())
    config_path = bundle / "config.json"
    config = json.loads(config_path.read_text())
    rootfs = str(bundle / (config.get("root") or {}).get("path", "rootfs"))
    try:
        facts = host_facts.gather(container_id, rootfs, config, str(bundle))
        result = harden(config, policy, facts)
    except Refused as err:
        with contextlib.suppress(OSError):  # the refusal itself still reaches the caller
            oplog.append_record(policy.log, {"container": container_id,
                                             "bundle": str(bundle), "refused": str(err)})
        raise
    staging.sweep()
    directory = staging.container_dir(options.root, container_id)
    view = _prepare_rootfs(result, policy, rootfs, directory)
    exists = False
    try:
        _record(policy, options, container_id, bundle, result)
        _write_config(config_path, result.config)
        code = run_runc(argv)
        exists = (Path(options.root) / container_id / "state.json").exists()
        return code
    finally:
        if view is not None:
            view.after_create(keep=exists)


def _prepare_rootfs(result: Hardened, policy: OciPolicy, rootfs: str,
                    directory: str) -> RootfsView | None:
    """Shift the rootfs if the plan says so, and make sure runc can reach it."""
    plan = result.userns
    if plan is None:
        return None
    view = RootfsView(rootfs, plan, directory)
    try:
        root = _shift(view, result, policy) if plan.shift_rootfs else rootfs
        if reachable(root, plan.uid_map[0][1], plan.gid_map[0][1]):
            # runc sets the rootfs up as the container's root, which cannot pass
            # through the orchestrator's private directories.
            root = view.expose(root)
            result.changes.append("rootfs handed to runc through a bind under "
                                  "/run/stockade-oci")
        result.config["root"]["path"] = root
        return view
    except BaseException:
        view.after_create(keep=False)
        raise


def _shift(view: RootfsView, result: Hardened, policy: OciPolicy) -> str:
    """The idmapped view, or the policy's fallback when there can be none."""
    try:
        root = view.shift()
    except (OSError, RootfsError) as err:
        view.after_create(keep=False)
        if policy.unshifted_rootfs == "refuse":
            raise _Failed(f"cannot shift the rootfs {view.rootfs} for the user namespace "
                          f"({err}); the policy refuses to run it unshifted") from err
        result.exceptions.append(f"policy: rootfs {view.rootfs} is not shifted ({err}); "
                                 "its files are owned by nobody inside")
        return view.rootfs
    result.changes.append("rootfs shown through an idmapped mount")
    return root


def _record(policy: OciPolicy, options: GlobalOptions, container_id: str, bundle: Path,
            result: Hardened) -> None:
    """Every exception must be on record before the container exists."""
    record = {"container": container_id, "bundle": str(bundle), "allowance": result.allowance,
              "changes": result.changes, "exceptions": result.exceptions}
    try:
        oplog.append_record(policy.log, record)
    except OSError as err:
        if result.exceptions:
            raise _Failed(f"cannot log the policy exceptions to {policy.log}: {err}") from err
        print(f"stockade-oci: warning: cannot write {policy.log}: {err}", file=sys.stderr)
    for text in result.exceptions:
        oplog.runc_log(options.log, options.log_format, "warning",
                       f"stockade-oci policy exception: {text}")


def _write_config(path: Path, config: dict[str, Any]) -> None:
    """Replace config.json atomically, keeping its mode."""
    temporary = path.with_name(f".{path.name}.stockade-oci")
    mode = path.stat().st_mode & 0o7777
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    with os.fdopen(fd, "w") as handle:
        json.dump(config, handle)
    os.replace(temporary, path)


# --- exec -------------------------------------------------------------------------------


def _exec(argv: list[str], options: GlobalOptions, args: CommandArgs) -> int:
    """Exec'd processes get no capability the container's init lacks, and always NNP."""
    if args.bools.get("no-new-privs") is False:
        raise _Failed("exec with no_new_privileges off is refused")
    if not args.positional:
        raise _Failed("exec needs a container id")
    bounding = _init_bounding(options.root, args.positional[0])
    refused = [cap for cap in args.values.get("cap", []) if _cap_name(cap) not in bounding]
    if refused:
        raise _Failed(f"exec may not add capabilities {', '.join(refused)}")
    labels = _init_labels(options.root, args.positional[0])
    for flag, key in _LSM_FLAGS:
        for value in args.values.get(flag, []):
            if value != labels.get(key, ""):
                raise _Failed(f"exec may not change the {flag} to {value!r} (the container "
                              f"has {labels.get(key) or 'none'!r})")
    process_file = args.last("process")
    if process_file is None:
        return exec_runc(argv)  # runc takes the hardened config.json's process
    process = json.loads(Path(process_file).read_text())
    caps = process.setdefault("capabilities", {})
    for name in _CAP_SETS:
        caps[name] = [cap for cap in caps.get(name) or [] if cap in bounding]
    process["noNewPrivileges"] = True
    # runc uses the process's own labels when set; the init's keep `unconfined` and the
    # orchestrator's SELinux label out, as create did.
    for _, key in _LSM_FLAGS:
        field = _PROCESS_LSM[key]
        if labels.get(key):
            process[field] = labels[key]
        else:
            process.pop(field, None)
    # Handed over in memory: nothing is left behind when runc replaces this process.
    fd = os.memfd_create("stockade-oci-process")
    os.write(fd, json.dumps(process).encode())
    os.lseek(fd, 0, os.SEEK_SET)
    os.set_inheritable(fd, True)
    return exec_runc(replace_value(argv, args.value_at["process"], f"/proc/self/fd/{fd}"))


# exec's LSM flags, and the keys runc's state.json records the init's values under.
_LSM_FLAGS = (("apparmor", "apparmor_profile"), ("process-label", "process_label"))
_PROCESS_LSM = {"apparmor_profile": "apparmorProfile", "process_label": "selinuxLabel"}


def _init_labels(root: str, container_id: str) -> dict[str, str]:
    """The AppArmor profile and SELinux label runc recorded for the container's init."""
    state = Path(root) / container_id / "state.json"
    try:
        config = json.loads(state.read_text())["config"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return {key: str(config.get(key) or "") for _, key in _LSM_FLAGS}


def _cap_name(text: str) -> str:
    upper = text.upper()
    return upper if upper.startswith("CAP_") else f"CAP_{upper}"


def _init_bounding(root: str, container_id: str) -> frozenset[str]:
    """The bounding set runc recorded for the container's init."""
    state = Path(root) / container_id / "state.json"
    try:
        recorded = json.loads(state.read_text())["config"]["capabilities"]["Bounding"]
    except (OSError, ValueError, KeyError, TypeError):
        return DEFAULT_BOUNDING
    return frozenset(recorded or ())
