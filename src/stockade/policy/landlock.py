"""The init's command line: Landlock rules first, then the application."""

from stockade.host import HostFeatures
from stockade.spec import ContainerSpec

HELPERS_MOUNT = "/.stockade"
INIT_PATH = f"{HELPERS_MOUNT}/init"
PROBE_PATH = f"{HELPERS_MOUNT}/probe"
# The platform's writable directories; everything else in the image is read-only.
DEFAULT_WRITABLE = ("/home", "/tmp", "/var/tmp", "/app", "/dev/shm", "/dev/mqueue")
# Top-level directories that hold data, not programs: nothing there may be executed,
# so a payload written to /tmp or /home cannot be run. /app holds the application.
NOT_EXECUTABLE = frozenset({"proc", "sys", "dev", "tmp", "var", "run", "mnt", "media", "home",
                            "root", "lost+found"})


def writable_paths(spec: ContainerSpec) -> list[str]:
    rw_binds = [m.container_path for m in spec.mounts if not m.read_only]
    return sorted({*DEFAULT_WRITABLE, *spec.writable_paths, *rw_binds})


def executable_paths(top_level: tuple[str, ...]) -> list[str]:
    return sorted(f"/{name}" for name in set(top_level) - NOT_EXECUTABLE if "/" not in name)


def landlock_enabled(spec: ContainerSpec, host: HostFeatures) -> bool:
    return host.landlock.available and not spec.unsafe.disable_mac


def init_command(spec: ContainerSpec, host: HostFeatures, top_level: tuple[str, ...],
                 args: tuple[str, ...]) -> list[str]:
    """[init, rules..., '--', application...]: the init restricts itself, then runs the app."""
    command = [INIT_PATH]
    if not landlock_enabled(spec, host):
        command.append("-L")
    for path in writable_paths(spec):
        command += ["-w", path]
    for path in executable_paths(top_level):
        command += ["-x", path]
    # Our read-only helpers, so `stockade verify` can run its probe under these same rules.
    command += ["-x", HELPERS_MOUNT]
    command += ["-d", "/dev", "--"]
    return command + list(args)


def helpers_mount(helpers_dir: str) -> dict[str, object]:
    """The init and probe, read-only, from the host."""
    return {"destination": HELPERS_MOUNT, "type": "bind", "source": helpers_dir,
            "options": ["rbind", "ro", "nosuid", "nodev"]}
