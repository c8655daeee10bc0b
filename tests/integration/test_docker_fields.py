"""docker's run flags that the spec carries, checked from inside real containers: the host
name, a replaced entrypoint, and a CPU quota."""

import pytest

from stockade.engine import Engine
from tests.integration.helpers import run

pytestmark = pytest.mark.integration


def test_the_hostname_is_the_containers_and_in_its_hosts_file(engine: Engine) -> None:
    result = run(engine, ["sh", "-c", "hostname; grep web-1 /etc/hosts"], hostname="web-1")
    assert result.code == 0, result.err
    name, hosts = result.out.splitlines()
    assert name == "web-1" and hosts.split()[1:] == ["web-1", result.info.handle]


def test_an_entrypoint_replaces_the_images_and_takes_the_args(engine: Engine) -> None:
    alone = run(engine, [], process={"entrypoint": ["echo", "from-entry"]})
    with_args = run(engine, ["and", "args"], process={"entrypoint": ["echo", "from-entry"]})
    assert (alone.out, with_args.out) == ("from-entry\n", "from-entry and args\n")
    assert with_args.info.command == ["echo", "from-entry", "and", "args"]


def test_cpus_set_the_cfs_quota_the_container_sees(engine: Engine) -> None:
    result = run(engine, ["sh", "-c", "cat /sys/fs/cgroup/cpu*/cpu.cfs_quota_us | head -1; "
                                      "cat /sys/fs/cgroup/cpu*/cpu.cfs_period_us | head -1"],
                 limits={"cpus": 0.5})
    assert result.code == 0, result.err
    assert result.out.split() == ["50000", "100000"]
    assert result.info.limits.cpus == 0.5
