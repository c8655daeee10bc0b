"""Validation of the public data model: bad requests are refused with a clear reason."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from stockade.errors import InvalidSpec
from stockade.spec import HANDLE_PATTERN, BindMount, ContainerSpec, Limits, ProcessSpec
from stockade.spec.sizes import MAX_BYTES, format_size, parse_size
from stockade.spec.validation import first_error


@given(st.integers(min_value=1, max_value=MAX_BYTES))
def test_sizes_round_trip(value: int) -> None:
    assert parse_size(format_size(value)) == value


@pytest.mark.parametrize(("text", "value"), [("256M", 256 << 20), ("1G", 1 << 30),
                                             ("512k", 512 << 10), ("1GiB", 1 << 30),
                                             ("4096", 4096), ("2 MB", 2 << 20)])
def test_size_units(text: str, value: int) -> None:
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["", "lots", "-5M", "0", "1.5G", "5X", "999999T", "1e9"])
def test_malformed_sizes_are_refused(text: str) -> None:
    with pytest.raises(InvalidSpec):
        parse_size(text)


@given(st.text(max_size=80))
def test_handles_are_dns_labels_or_refused(text: str) -> None:
    try:
        spec = ContainerSpec(handle=text)
    except ValidationError:
        assert not re.fullmatch(HANDLE_PATTERN, text)
        return
    assert re.fullmatch(r"[a-z0-9-]{1,63}", spec.handle)
    assert "/" not in spec.handle and ".." not in spec.handle


def test_default_limits() -> None:
    limits = Limits()
    assert (limits.memory_bytes, limits.pids, limits.disk_bytes) == (256 << 20, 1024, 1 << 30)
    assert limits.cpu_shares is None


@pytest.mark.parametrize("fields", [
    {"memory_bytes": "1M"}, {"memory_bytes": "2T"}, {"pids": 0}, {"pids": -1},
    {"pids": 10**9}, {"cpu_shares": 1}, {"cpu_shares": 10**7}, {"disk_bytes": "10k"},
    {"cpuset_cpus": "0;rm"},
])
def test_absurd_limits_are_refused(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Limits.model_validate(fields)


@pytest.mark.parametrize("fields", [
    {"env": {"1BAD": "x"}}, {"env": {"A=B": "x"}}, {"env": {"A": "x\0y"}},
    {"args": ["a\0b"]}, {"cwd": "relative"}, {"cwd": "/a/../b"}, {"user": "root;id"},
    {"user": "a:b:c"},
])
def test_bad_processes_are_refused(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ProcessSpec.model_validate(fields)


@pytest.mark.parametrize(("host", "target"), [
    ("relative", "/mnt"), ("/srv/../etc", "/mnt"), ("/srv", "/"), ("/srv", "/proc"),
    ("/srv", "/proc/sys"), ("/srv", "/sys/fs"), ("/srv", "/dev"), ("/srv", "mnt"),
])
def test_bad_bind_mounts_are_refused(host: str, target: str) -> None:
    with pytest.raises(ValidationError):
        BindMount(host_path=host, container_path=target)


def test_bind_paths_are_normalised() -> None:
    mount = BindMount(host_path="/srv//data/./x", container_path="/mnt/")
    assert (mount.host_path, mount.container_path, mount.read_only) == ("/srv/data/x", "/mnt",
                                                                       True)


def test_only_dropped_docker_capabilities_can_be_added_back() -> None:
    spec = ContainerSpec(handle="a", cap_add=["net_raw", "CAP_MKNOD"])
    assert spec.cap_add == ["CAP_MKNOD", "CAP_NET_RAW"]
    for forbidden in ("SYS_ADMIN", "CAP_SYS_PTRACE", "DAC_READ_SEARCH", "ALL"):
        with pytest.raises(ValidationError):
            ContainerSpec(handle="a", cap_add=[forbidden])


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError):
        ContainerSpec.model_validate({"handle": "a", "privileged": True})


def test_a_validation_error_reads_as_one_line_without_pydantics_prefix() -> None:
    with pytest.raises(ValidationError) as caught:
        ContainerSpec(handle="x", listen_ports="0")
    errors = caught.value.errors()
    assert first_error(errors) == \
        "listen_ports: port range '0' must satisfy 1 <= low <= high <= 65535"
    assert first_error(errors, located="{message}").startswith("port range '0'")
    body = [{"loc": ("body", "limits", "pids"), "msg": "too big"}]
    assert first_error(body, located="invalid {where}: {message}", skip=("body",)) == \
        "invalid limits.pids: too big"
    assert first_error([{"loc": ("body",), "msg": "Value error, x"}], skip=("body",)) == "x"
    assert first_error([]) == "invalid request"
