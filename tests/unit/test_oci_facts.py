"""What stockade-oci reads from the host about a bundle's binds."""

import socket
from pathlib import Path

import pytest

from stockade.oci import facts
from stockade.oci.harden import HostBind


def test_bind_sources_resolve_like_runc(tmp_path: Path) -> None:
    (tmp_path / "link").symlink_to("/etc")
    (tmp_path / "data").mkdir()
    config = {"mounts": [
        {"destination": "/a", "type": "bind", "source": "link", "options": ["rbind"]},
        {"destination": "/b", "type": "none", "source": str(tmp_path / "data"),
         "options": ["bind"]},
        {"destination": "/c", "type": "bind", "source": "/var/run/no-such.sock"},
        {"destination": "/proc", "type": "proc", "source": "proc"},
    ]}
    binds = facts.host_binds(config, str(tmp_path))
    assert binds["link"] == HostBind("/etc")
    assert binds[str(tmp_path / "data")] == HostBind(str(tmp_path / "data"))
    assert binds["/var/run/no-such.sock"].resolved == "/run/no-such.sock"
    assert "proc" not in binds


def test_sockets_are_found_beneath_a_directory(tmp_path: Path) -> None:
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    assert not facts._holds_socket(str(tmp_path))
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(nested / "ctl"))
        assert facts._holds_socket(str(tmp_path))
        assert facts._holds_socket(str(nested / "ctl"))
    (tmp_path / "a" / "loop").symlink_to(tmp_path)  # links are not followed
    (nested / "ctl").unlink()
    assert not facts._holds_socket(str(tmp_path))


def test_a_directory_too_big_to_scan_counts_as_holding_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for n in range(5):
        (tmp_path / str(n)).touch()
    monkeypatch.setattr(facts, "_SOCKET_SCAN_LIMIT", 4)
    assert facts._holds_socket(str(tmp_path))


def test_apparmor_is_read_from_the_kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    enabled, profiles = tmp_path / "enabled", tmp_path / "profiles"
    monkeypatch.setattr(facts, "_APPARMOR_ENABLED", enabled)
    monkeypatch.setattr(facts, "_APPARMOR_PROFILES", profiles)
    assert facts._apparmor() == (False, frozenset())  # not in this kernel
    enabled.write_text("Y\n")
    profiles.write_text("stockade-default (enforce)\n/usr/bin/man (complain)\n")
    assert facts._apparmor() == (True, frozenset({"stockade-default", "/usr/bin/man"}))
    enabled.write_text("N\n")
    assert facts._apparmor()[0] is False
