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
    ('memory = \n', "invalid policy file"),
])
def test_bad_files_are_refused_with_the_reason(tmp_path: Path, text: str, complaint: str) -> None:
    path = tmp_path / "oci-policy.toml"
    path.write_text(text)
    with pytest.raises(InvalidSpec, match=complaint):
        load_policy(path)
