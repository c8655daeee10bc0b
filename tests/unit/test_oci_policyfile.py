"""The node's policy file: secure defaults, named exceptions, clear errors."""

from pathlib import Path

import pytest

from stockade.errors import InvalidSpec
from stockade.oci.policyfile import DEFAULT_LOG, OciPolicy, load_policy

EXAMPLE = """
memory = "512M"
pids = 2048
privileged = "refuse"
log = "/var/log/stockade/oci.jsonl"

[[exception]]
name = "node-exporter"
annotations = { "io.kubernetes.cri.sandbox-namespace" = "monitoring" }
ids = ["exporter-*"]
host_namespaces = ["pid", "network"]
capabilities = ["SYS_PTRACE"]
"""


def test_missing_file_means_secure_defaults(tmp_path: Path) -> None:
    policy = load_policy(tmp_path / "absent.toml")
    assert policy == OciPolicy()
    assert policy.privileged == "harden" and policy.unshifted_rootfs == "refuse"
    assert policy.memory == 256 << 20 and policy.pids == 1024 and policy.log == DEFAULT_LOG
    assert policy.exceptions == ()


def test_example_file(tmp_path: Path) -> None:
    path = tmp_path / "oci-policy.toml"
    path.write_text(EXAMPLE)
    policy = load_policy(path)
    assert policy.memory == 512 << 20 and policy.pids == 2048
    (allowance,) = policy.exceptions
    assert allowance.capabilities == ("CAP_SYS_PTRACE",)
    ns = {"io.kubernetes.cri.sandbox-namespace": "monitoring"}
    assert policy.allowance_for("exporter-1", ns) is allowance
    assert policy.allowance_for("exporter-1", {}) is None  # every criterion must match
    assert policy.allowance_for("other", ns) is None


@pytest.mark.parametrize("text, complaint", [
    ('[[exception]]\nname = "all"\nprivileged = true\n', "matches every container"),
    ('[[exception]]\nname = "x"\nids = ["a"]\ncapabilities = ["CAP_MAGIC"]\n', "CAP_MAGIC"),
    ('memory = "lots"\n', "malformed size"),
    ('privileged = "sometimes"\n', "privileged"),
    ('surprise = 1\n', "surprise"),
    ('[[exception]]\nname = "h"\nids = ["a"]\nhooks = ["preStart"]\n', "hooks"),
    ('[[exception]]\nname = "p"\nids = ["a"]\nhost_paths = ["etc"]\n', "not absolute"),
    ('min_host_id = 100000\nmax_host_id = 99999\n', "below min_host_id"),
    ('memory = \n', "invalid policy file"),
])
def test_bad_files_are_refused_with_the_reason(tmp_path: Path, text: str, complaint: str) -> None:
    path = tmp_path / "oci-policy.toml"
    path.write_text(text)
    with pytest.raises(InvalidSpec, match=complaint):
        load_policy(path)


def test_exceptions_for_host_paths_hooks_and_labels(tmp_path: Path) -> None:
    path = tmp_path / "oci-policy.toml"
    path.write_text('max_host_id = 3000000\n[[exception]]\nname = "gpu"\nids = ["gpu-*"]\n'
                    'host_paths = ["/dev/nvidia0", "/etc/../etc/ssh/"]\n'
                    'hooks = ["createRuntime", "poststop"]\n'
                    'keep_apparmor = true\nkeep_selinux = true\n')
    policy = load_policy(path)
    assert policy.max_host_id == 3_000_000
    (allowance,) = policy.exceptions
    assert allowance.host_paths == ("/dev/nvidia0", "/etc/ssh")
    assert allowance.hooks == ("createRuntime", "poststop")
    assert allowance.keep_apparmor and allowance.keep_selinux
    defaults = OciPolicy()
    assert defaults.max_host_id == (1 << 32) - 2
