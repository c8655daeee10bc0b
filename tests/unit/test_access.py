"""Roles: what a developer may ask for at create, what it may see, how identities are
told apart, and the per-identity request rate."""

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stockade.api.access import ROOT, Identities, Identity, create_refusal, may_see
from stockade.api.config import AccessConfig, ServerConfig
from stockade.api.gate import RateLimiter
from stockade.spec import ADDABLE_CAPABILITIES, ContainerSpec

DEVELOPER = Identity("cert:alice", "developer", AccessConfig().developer_limits)
ADMIN = Identity("cert:ops", "admin", None)

unsafe = st.fixed_dictionaries({}, optional={
    "disable_seccomp": st.booleans(), "disable_userns": st.booleans(),
    "disable_mac": st.booleans(), "cap_add": st.lists(st.sampled_from(["SYS_ADMIN", "BPF"]),
                                                      max_size=1)})
paths = st.sampled_from(["/srv/stockade", "/srv/stockade/team", "/srv/stockade/team/x",
                         "/srv/other", "/", "/srv/stockade/teams"])
specs = st.builds(
    lambda unsafe, caps, devices, binds, groups, i386: ContainerSpec.model_validate({
        "handle": "c", "unsafe": unsafe, "cap_add": caps, "devices": devices,
        "mounts": [{"host_path": p, "container_path": f"/m{i}"} for i, p in enumerate(binds)],
        "security_groups": groups, "allow_32bit": i386}),
    unsafe, st.lists(st.sampled_from(sorted(ADDABLE_CAPABILITIES)), max_size=2, unique=True),
    st.lists(st.sampled_from(["fuse", "tun"]), max_size=1), st.lists(paths, max_size=2,
                                                                       unique=True),
    st.lists(st.sampled_from(["web", "db"]), max_size=2, unique=True), st.booleans())
access = st.builds(
    lambda caps, binds, groups: AccessConfig(developer_cap_add=caps,
                                             developer_bind_paths=binds,
                                             developer_security_groups=groups),
    st.lists(st.sampled_from(sorted(c.removeprefix("CAP_") for c in ADDABLE_CAPABILITIES)),
             max_size=2),
    st.lists(st.sampled_from([Path("/srv/stockade/team"), Path("/srv/other")]), max_size=2),
    st.lists(st.sampled_from(["web"]), max_size=1))


def _allowed_by_hand(spec: ContainerSpec, config: AccessConfig) -> bool:
    """The rule as the issue words it, written out independently."""
    if spec.unsafe.in_use() or spec.devices or spec.allow_32bit:
        return False
    if any(c not in config.developer_cap_add for c in spec.cap_add):
        return False
    if any(g not in config.developer_security_groups for g in spec.security_groups):
        return False
    bases = [str(b) for b in config.developer_bind_paths]
    return all(any(m.host_path == b or m.host_path.startswith(b + "/") for b in bases)
               for m in spec.mounts)


@given(spec=specs, config=access)
def test_a_developer_gets_exactly_the_default_hardening_plus_the_operators_lists(
        spec: ContainerSpec, config: AccessConfig) -> None:
    refusal = create_refusal(DEVELOPER, spec, config)
    assert (refusal is None) == _allowed_by_hand(spec, config), refusal
    if refusal is not None:
        assert "role developer" in refusal and "\n" not in refusal
    assert create_refusal(ADMIN, spec, config) is None
    assert create_refusal(ROOT, spec, config) is None


def test_a_bind_beside_an_allowed_path_is_not_under_it() -> None:
    config = AccessConfig(developer_bind_paths=[Path("/srv/stockade/team")])
    spec = ContainerSpec.model_validate({"handle": "c", "mounts": [
        {"host_path": "/srv/stockade/teams", "container_path": "/x"}]})
    assert "mounts[0].host_path /srv/stockade/teams" in str(
        create_refusal(DEVELOPER, spec, config))


@given(owner=st.sampled_from(["local", "cert:alice", "cert:bob", "token:default"]))
def test_only_admins_see_what_others_own(owner: str) -> None:
    assert may_see(DEVELOPER, owner) == (owner == "cert:alice")
    assert may_see(ADMIN, owner) and may_see(ROOT, owner)


def test_identities_by_socket_certificate_and_token(tmp_path: Path) -> None:
    (tmp_path / "t1").write_text("a" * 20)
    (tmp_path / "t2").write_text("b" * 20)
    config = ServerConfig.model_validate({
        "tcp": {"port": 7443, "certificate": "/c", "key": "/k", "client_ca": "/ca",
                "token_file": str(tmp_path / "t1")},
        "access": {"certificates": {"ops": "admin"},
                   "tokens": [{"name": "ci", "file": str(tmp_path / "t2"), "role": "admin"}]}})
    known = Identities(config)
    tls = {"transport": "tls", "cert": None}
    assert known.identify({"transport": "unix", "uid": 0, "pid": 1}, "") == ROOT
    assert known.identify({**tls, "cert": "ops"}, "").role == "admin"  # type: ignore[union-attr]
    alice = known.identify({**tls, "cert": "alice"}, "")
    assert alice is not None and (alice.name, alice.role) == ("cert:alice", "developer")
    default = known.identify(tls, "Bearer " + "a" * 20)
    assert default is not None and (default.name, default.role) == ("token:default",
                                                                    "developer")
    ci = known.identify(tls, "Bearer " + "b" * 20)
    assert ci is not None and (ci.name, ci.role) == ("token:ci", "admin")
    assert known.identify(tls, "Bearer wrong") is None
    assert known.identify(tls, "") is None


def test_a_short_token_is_refused_at_start(tmp_path: Path) -> None:
    (tmp_path / "t").write_text("short")
    config = ServerConfig.model_validate({"tcp": {
        "port": 7443, "certificate": "/c", "key": "/k", "token_file": str(tmp_path / "t")}})
    with pytest.raises(ValueError, match="too short"):
        Identities(config)


def test_a_partial_limits_table_keeps_the_other_defaults() -> None:
    limits = AccessConfig.model_validate({"developer_limits": {"containers": 5}}
                                         ).limits_for("developer")
    assert (limits.containers, limits.process_streams, limits.requests_per_second) == \
        (5, 32, 50)
    assert AccessConfig().limits_for("developer").containers == 100
    assert AccessConfig(developer_cap_add=["net_raw"]).developer_cap_add == ["CAP_NET_RAW"]


@given(times=st.lists(st.floats(0, 0.5), min_size=1, max_size=200),
       rate=st.floats(0.5, 50), burst=st.integers(1, 20))
def test_the_rate_limiter_never_allows_more_than_burst_plus_rate_times_time(
        times: list[float], rate: float, burst: int) -> None:
    now = [0.0]
    limiter = RateLimiter(clock=lambda: now[0])
    allowed = 0
    for step in times:
        now[0] += step
        allowed += limiter.allow("x", rate, burst)
        assert allowed <= burst + rate * now[0] + 1e-9
    assert limiter.allow("someone else", rate, burst)  # buckets are per identity
