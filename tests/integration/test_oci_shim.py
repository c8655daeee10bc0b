"""stockade-oci under real orchestrators: podman, containerd's runc shim, plain runc.

Each container prints its own id map, capabilities, no_new_privs and seccomp mode, so
the policy is checked from inside, where it matters.
"""

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stockade.policy import DEFAULT_BOUNDING
from tests.integration import ocikit
from tests.integration.ocikit import PROBE, Containerd, Podman, World, parse_probe

pytestmark = pytest.mark.integration

FOREIGN_ROOT = 2_000_000  # the policy's default id_base


def _missing(tool: str) -> bool:
    return shutil.which(tool) is None


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    if os.geteuid() != 0:
        pytest.fail("stockade-oci integration tests need root")
    with ocikit.world() as made:
        yield made


@pytest.fixture
def policy(world: World) -> Iterator[World]:
    """The default policy for each test unless it writes its own; restored after."""
    world.set_policy()
    yield world
    world.set_policy()


@pytest.fixture(scope="module")
def ctr(world: World) -> Iterator[Containerd]:
    if _missing("containerd") or _missing("ctr") or _missing("containerd-shim-runc-v2"):
        pytest.fail("containerd is not installed (install.sh installs the Debian package)")
    with ocikit.containerd(world) as daemon:
        yield daemon


@pytest.fixture(scope="module")
def pod(world: World) -> Iterator[Podman]:
    if _missing("podman") or _missing("conmon"):
        pytest.fail("podman is not installed (install.sh installs the Debian package)")
    with ocikit.podman(world) as engine:
        yield engine


def assert_hardened(output: str, exact: bool = True) -> None:
    """Root maps to the foreign range; capabilities are ours (exactly, when the bundle
    asked for Docker's fourteen or more); no_new_privs; a seccomp filter."""
    posture = parse_probe(output)
    container, host, _ = posture.uid_map
    assert (container, host) == (0, FOREIGN_ROOT), output
    assert posture.bounding == DEFAULT_BOUNDING if exact else posture.bounding <= DEFAULT_BOUNDING
    assert posture.effective <= DEFAULT_BOUNDING
    assert posture.no_new_privs
    assert posture.seccomp_mode == 2


# --- podman -----------------------------------------------------------------------------


def test_podman_run_is_hardened(pod: Podman, policy: World) -> None:
    done = pod.run("oci-pm1", "sh", "-c", PROBE)
    assert done.returncode == 0, done.stderr
    assert_hardened(done.stdout)
    record = policy.records()[-1]
    assert record["exceptions"] == []
    assert any("seccomp" in change for change in record["changes"])
    assert "rootfs shown through an idmapped mount" in record["changes"]


def test_podman_image_on_overlay_storage(pod: Podman, policy: World) -> None:
    """podman's own overlay: rebuilt over idmapped layers, podman's /etc/mtab shifted."""
    image = pod.import_image()
    done = pod.run("oci-pm3", "sh", "-c", f"{PROBE}; touch /etc/new && ls -ln /etc/new",
                   image=image)
    assert done.returncode == 0, done.stderr
    assert_hardened(done.stdout)
    listing = next(line.split() for line in done.stdout.splitlines()
                   if line.endswith("/etc/new"))
    assert listing[2:4] == ["0", "0"], listing


def test_podman_privileged_is_hardened(pod: Podman, policy: World) -> None:
    done = pod.run("oci-pm2", "sh", "-c", f"{PROBE}; ls /dev", options=("--privileged",))
    assert done.returncode == 0, done.stderr
    assert_hardened(done.stdout)
    assert "vda" not in done.stdout.split()  # host block devices are not passed in


# --- containerd (the runc shim with BinaryName = stockade-oci) --------------------------


def test_containerd_run_is_hardened(ctr: Containerd, policy: World) -> None:
    done = ctr.ctr(*ctr.run_args("--rm"), ocikit.IMAGE, "oci-c1", "sh", "-c",
                   f"{PROBE}; touch /written && ls -ln /written")
    assert done.returncode == 0, done.stderr
    assert_hardened(done.stdout)
    # The overlay snapshot is shown idmapped: root inside owns it and can write.
    listing = next(line.split() for line in done.stdout.splitlines()
                   if line.endswith("/written"))
    assert listing[2:4] == ["0", "0"], listing
    record = policy.record_for("oci-c1")
    # containerd's bundle directory is private (0700): runc reaches the rootfs through a
    # bind under /run/stockade-oci, and that directory is gone with the container.
    assert "rootfs handed to runc through a bind under /run/stockade-oci" in record["changes"]
    assert policy.staged() == []


def test_containerd_privileged_is_hardened(ctr: Containerd, policy: World) -> None:
    done = ctr.ctr(*ctr.run_args("--rm", "--privileged"), ocikit.IMAGE, "oci-c2", "sh", "-c",
                   f"{PROBE}; ls /dev; grep ' /sys ' /proc/self/mountinfo")
    assert done.returncode == 0, done.stderr
    assert_hardened(done.stdout)
    assert "vda" not in done.stdout.split()
    assert " /sys ro," in done.stdout
    assert any("CAP_SYS_ADMIN" in c for c in policy.record_for("oci-c2")["changes"])


def test_containerd_privileged_is_refused_by_policy(ctr: Containerd, policy: World) -> None:
    policy.set_policy('privileged = "refuse"\n')
    try:
        done = ctr.ctr(*ctr.run_args("--rm", "--privileged"), ocikit.IMAGE, "oci-c3", "true")
        assert done.returncode != 0
        assert "privileged" in done.stderr, done.stderr
        (record,) = [r for r in policy.records() if r["container"] == "oci-c3"]
        assert "privileged" in record["refused"]
        plain = ctr.ctr(*ctr.run_args("--rm"), ocikit.IMAGE, "oci-c3b", "true")
        assert plain.returncode == 0, plain.stderr
    finally:
        ctr.remove_container("oci-c3")


def test_named_exception_runs_privileged_and_is_logged(ctr: Containerd, policy: World) -> None:
    policy.set_policy('privileged = "refuse"\n[[exception]]\nname = "node-agent"\n'
                      'ids = ["oci-agent-*"]\nprivileged = true\n')
    done = ctr.ctr(*ctr.run_args("--rm", "--privileged"), ocikit.IMAGE, "oci-agent-1", "sh",
                   "-c", PROBE)
    assert done.returncode == 0, done.stderr
    posture = parse_probe(done.stdout)
    assert posture.uid_map[:2] == (0, 0)  # no user namespace: what the exception allows
    assert "CAP_SYS_ADMIN" in posture.bounding and posture.bounding > DEFAULT_BOUNDING
    record = policy.record_for("oci-agent-1")
    assert record["allowance"] == "node-agent"
    assert record["exceptions"] == ["node-agent: privileged: the bundle is left exactly as it is"]


def test_exec_gets_no_more_than_the_init(ctr: Containerd, policy: World) -> None:
    started = ctr.ctr(*ctr.run_args("--detach"), ocikit.IMAGE, "oci-c4", "sleep", "300")
    try:
        assert started.returncode == 0, started.stderr
        # containerd builds the exec process from its own (unhardened) copy of the spec,
        # which still holds NET_RAW, MKNOD and the rest of Docker's fourteen.
        done = ctr.ctr("task", "exec", "--exec-id", "probe", "oci-c4", "sh", "-c", PROBE)
        assert done.returncode == 0, done.stderr
        assert_hardened(done.stdout)
        assert policy.staged()  # runc exec starts in the recorded rootfs directory
    finally:
        ctr.remove_container("oci-c4")
    assert policy.staged() == []  # delete took it away


def test_pod_containers_share_the_sandbox_user_namespace(ctr: Containerd, policy: World) -> None:
    started = ctr.ctr(*ctr.run_args("--detach"), ocikit.IMAGE, "oci-pause", "sleep", "300")
    try:
        assert started.returncode == 0, started.stderr
        pid = next(line.split()[1] for line in ctr.ctr("task", "ls").stdout.splitlines()
                   if line.split()[0] == "oci-pause")
        joins = [f"--with-ns=ipc:/proc/{pid}/ns/ipc", f"--with-ns=uts:/proc/{pid}/ns/uts",
                 f"--with-ns=network:/proc/{pid}/ns/net"]
        done = ctr.ctr(*ctr.run_args("--rm", *joins), ocikit.IMAGE, "oci-app", "sh", "-c",
                       f"{PROBE}; readlink /proc/self/ns/user")
        assert done.returncode == 0, done.stderr
        assert_hardened(done.stdout)
        assert os.readlink(f"/proc/{pid}/ns/user") in done.stdout
        assert "the pod's user namespace" in " ".join(policy.record_for("oci-app")["changes"])
    finally:
        ctr.remove_container("oci-pause")


# --- plain runc command line ------------------------------------------------------------


def _bundle(world: World, name: str, rootfs: Path, args: list[str]) -> Path:
    """`runc spec`'s config for `rootfs`, no terminal, running `args`."""
    bundle = world.base / name
    bundle.mkdir(mode=0o711)
    done = ocikit.run(["runc", "spec", "--bundle", str(bundle)])
    assert done.returncode == 0, done.stderr
    config = json.loads((bundle / "config.json").read_text())
    config["root"] = {"path": str(rootfs), "readonly": False}
    config["process"].update(terminal=False, args=args)
    config["linux"]["cgroupsPath"] = f"/{world.tag}/{name}"  # removed with the world
    (bundle / "config.json").write_text(json.dumps(config))
    return bundle


def _runc_run(world: World, bundle: Path, name: str) -> subprocess.CompletedProcess[str]:
    root = world.base / "runc"
    try:
        return ocikit.run([str(world.launcher), "--root", str(root), "run", "--bundle",
                           str(bundle), name])
    finally:
        ocikit.run(["runc", "--root", str(root), "delete", "--force", name])


def test_rootfs_that_cannot_be_idmapped(policy: World) -> None:
    """A directory inside an overlay cannot be idmapped: refused, or run as nobody."""
    layers = policy.base / "layers"
    for part in ("lower", "upper", "work", "merged"):
        (layers / part).mkdir(parents=True)
    shutil.copytree(policy.rootfs, layers / "lower" / "rootfs", symlinks=True)
    merged = layers / "merged"
    mounted = ocikit.run(["mount", "-t", "overlay", "overlay", "-o",
                          f"lowerdir={layers}/lower,upperdir={layers}/upper,"
                          f"workdir={layers}/work", str(merged)])
    assert mounted.returncode == 0, mounted.stderr
    try:
        bundle = _bundle(policy, "unshiftable", merged / "rootfs", ["sh", "-c", PROBE])
        refused = _runc_run(policy, bundle, "oci-r1")
        assert refused.returncode != 0
        assert "cannot shift the rootfs" in refused.stderr
        policy.set_policy('unshifted_rootfs = "nobody"\n')
        done = _runc_run(policy, bundle, "oci-r2")
        assert done.returncode == 0, done.stderr
        assert_hardened(done.stdout, exact=False)  # `runc spec` asks for only three
        assert "is not shifted" in policy.record_for("oci-r2")["exceptions"][0]
    finally:
        ocikit.run(["umount", str(merged)])


def test_pass_through_commands(policy: World) -> None:
    launcher = str(policy.launcher)
    version = ocikit.run([launcher, "--version"])
    assert version.returncode == 0
    assert version.stdout.startswith("stockade-oci version ")
    assert "runc version" in version.stdout
    root = str(policy.base / "runc")
    ours = ocikit.run([launcher, "--root", root, "state", "no-such-container"])
    theirs = ocikit.run(["runc", "--root", root, "state", "no-such-container"])
    assert (ours.returncode, ours.stdout) == (theirs.returncode, theirs.stdout)
    assert ocikit.run([launcher, "features"]).stdout == ocikit.run(["runc", "features"]).stdout


def test_runc_lifecycle_and_exec_refusals(policy: World) -> None:
    """create/start/exec/delete through stockade-oci as a person would type them."""
    launcher, root = str(policy.launcher), str(policy.base / "runc")
    bundle = _bundle(policy, "lifecycle", policy.rootfs, ["sleep", "300"])
    name = "oci-life"
    # The container's init inherits runc's stdio: no pipe that would stay open.
    created = subprocess.run([launcher, "--root", root, "create", "--bundle", str(bundle), name],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, timeout=90, check=False)
    try:
        assert created.returncode == 0
        assert ocikit.run([launcher, "--root", root, "start", name]).returncode == 0
        state = json.loads(ocikit.run([launcher, "--root", root, "state", name]).stdout)
        assert state["status"] == "running"
        assert state["annotations"]["org.stockade.oci.policy"] == "default"
        done = ocikit.run([launcher, "--root", root, "exec", name, "sh", "-c", PROBE])
        assert done.returncode == 0, done.stderr
        assert_hardened(done.stdout, exact=False)
        for extra in (["--cap", "CAP_SYS_ADMIN"], ["--no-new-privs=false"]):
            refused = ocikit.run([launcher, "--root", root, "exec", *extra, name, "true"])
            assert refused.returncode != 0 and "stockade-oci" in refused.stderr, extra
        assert policy.staged()
    finally:
        deleted = ocikit.run([launcher, "--root", root, "delete", "--force", name])
    assert deleted.returncode == 0, deleted.stderr
    assert policy.staged() == []


# --- binds, hooks, swap, joined user namespaces (issue 16 part 6) -------------------------


def _with(bundle: Path, change: Any) -> None:
    config = json.loads((bundle / "config.json").read_text())
    change(config)
    (bundle / "config.json").write_text(json.dumps(config))


def _add_bind(source: str, target: str, options: list[str]) -> Any:
    def change(config: dict[str, Any]) -> None:
        config["mounts"].append({"destination": target, "type": "bind", "source": source,
                                 "options": options})
    return change


def _left_nothing(world: World, name: str) -> None:
    state = ocikit.run(["runc", "--root", str(world.base / "runc"), "state", name])
    assert state.returncode != 0, state.stdout  # runc never made it


def test_binds_are_nosuid_nodev_and_swap_is_pinned(policy: World) -> None:
    volume = policy.base / "volume"
    volume.mkdir(mode=0o777)
    script = ("grep ' /vol ' /proc/self/mountinfo; "
              "cat /sys/fs/cgroup/memory/memory.limit_in_bytes "
              "/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")
    bundle = _bundle(policy, "binds", policy.rootfs, ["sh", "-c", script])

    def limits(config: dict[str, Any]) -> None:
        config["linux"].setdefault("resources", {})["memory"] = {"limit": 64 << 20,
                                                                 "swap": -1}
    _with(bundle, limits)
    _with(bundle, _add_bind(str(volume), "/vol", ["rbind", "rw", "suid", "dev"]))
    done = _runc_run(policy, bundle, "oci-b1")
    assert done.returncode == 0, done.stderr
    mount_line, memory, memsw = done.stdout.strip().splitlines()
    options = set(mount_line.split()[5].split(","))
    assert {"nosuid", "nodev"} <= options, mount_line  # as the kernel reports it
    assert int(memory) == int(memsw) == 64 << 20  # memory plus swap: no swap at all
    changes = policy.record_for("oci-b1")["changes"]
    assert "binds made nosuid,nodev: /vol" in changes
    assert "swap pinned to the memory limit (was -1)" in changes


def test_sensitive_binds_and_hooks_are_refused(policy: World) -> None:
    (policy.base / "etc-link").symlink_to("/etc")
    cases = [("oci-s1", _add_bind("/etc", "/host-etc", ["rbind"]), "it is /etc"),
             ("oci-s2", _add_bind(str(policy.base / "etc-link") + "/ssh", "/ssh", ["rbind"]),
              "it is under /etc"),
             ("oci-s3", _add_bind("/", "/host", ["rbind", "ro"]), "the host's root"),
             ("oci-s4", _add_bind("/run", "/r", ["rbind"]), "it holds /run"),
             ("oci-s5", lambda c: c.update(hooks={"createRuntime": [{"path": "/bin/true"}]}),
              "createRuntime hooks (/bin/true) are refused")]
    for name, change, reason in cases:
        bundle = _bundle(policy, name, policy.rootfs, ["true"])
        _with(bundle, change)
        refused = _runc_run(policy, bundle, name)
        assert refused.returncode != 0
        assert reason in refused.stderr, (name, refused.stderr)
        assert reason in policy.record_for(name)["refused"]
        _left_nothing(policy, name)
    # An exception that names the path lets it through, nosuid,nodev, and is logged.
    policy.set_policy('[[exception]]\nname = "hostname"\nids = ["oci-s6"]\n'
                      'host_paths = ["/etc/hostname"]\n')
    bundle = _bundle(policy, "oci-s6", policy.rootfs,
                     ["sh", "-c", "grep ' /h ' /proc/self/mountinfo"])
    _with(bundle, _add_bind("/etc/hostname", "/h", ["rbind", "ro"]))
    done = _runc_run(policy, bundle, "oci-s6")
    assert done.returncode == 0, done.stderr
    assert {"nosuid", "nodev"} <= set(done.stdout.split()[5].split(","))
    assert policy.record_for("oci-s6")["exceptions"] == [
        "hostname: binds host path /etc/hostname at /h (it is under /etc)"]


_HOLD_USERNS = ("import ctypes, sys, time; ctypes.CDLL(None).unshare(0x10000000); "
                "print(flush=True); time.sleep(300)")


@pytest.fixture
def userns_holder(world: World) -> Iterator[Any]:
    """Start processes that each hold a new user namespace with the mapping given (the
    same for uids and gids); all are killed after."""
    started: list[subprocess.Popen[str]] = []

    def start(mapping: str) -> int:
        holder = subprocess.Popen([sys.executable, "-c", _HOLD_USERNS], text=True,
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
        started.append(holder)
        assert holder.stdout is not None
        holder.stdout.readline()  # it has unshared
        for name in ("uid_map", "gid_map"):
            Path(f"/proc/{holder.pid}/{name}").write_text(mapping)
        return holder.pid

    yield start
    for holder in started:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()


def _join_userns(path: str) -> Any:
    """Join the user namespace at `path`, declaring the foreign range as its mapping
    (runc 1.1 wants one written down, and does not compare it with the real one)."""
    def change(config: dict[str, Any]) -> None:
        config["linux"]["namespaces"].append({"type": "user", "path": path})
        mapping = [{"containerID": 0, "hostID": FOREIGN_ROOT, "size": 65536}]
        config["linux"].update(uidMappings=mapping, gidMappings=mapping)
    return change


def test_a_joined_user_namespace_is_checked_by_its_mapping(policy: World,
                                                           userns_holder: Any) -> None:
    # The bundle declares a safe mapping; the namespace it joins maps root to root.
    to_root = userns_holder("0 0 65536\n")
    bound = policy.base / "userns"
    bound.touch()
    mounted = ocikit.run(["mount", "--bind", f"/proc/{to_root}/ns/user", str(bound)])
    assert mounted.returncode == 0, mounted.stderr
    try:
        for name, path in (("oci-u1", f"/proc/{to_root}/ns/user"), ("oci-u2", str(bound))):
            bundle = _bundle(policy, name, policy.rootfs, ["cat", "/proc/self/uid_map"])
            _with(bundle, _join_userns(path))
            refused = _runc_run(policy, bundle, name)
            assert refused.returncode != 0, refused.stdout
            assert "maps root inside to host root" in refused.stderr, refused.stderr
            _left_nothing(policy, name)
    finally:
        ocikit.run(["umount", str(bound)])
    shifted = userns_holder(f"0 {FOREIGN_ROOT} 65536\n")
    bundle = _bundle(policy, "oci-u3", policy.rootfs, ["cat", "/proc/self/uid_map"])
    _with(bundle, _join_userns(f"/proc/{shifted}/ns/user"))
    done = _runc_run(policy, bundle, "oci-u3")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[:3] == ["0", str(FOREIGN_ROOT), "65536"]
