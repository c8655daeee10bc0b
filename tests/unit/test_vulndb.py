"""The offline vulnerability database: OSV range semantics against python-debian's version
order, feed forms and refusals (each leaving the loaded database as it was), the dpkg status
reader, and the fixture feed matched against this machine's real installed packages."""

import io
import json
import os
import shutil
import stat
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest
from debian.debian_support import Version
from hypothesis import given, settings
from hypothesis import strategies as st

from stockade.errors import InvalidSpec
from stockade.images import vulndb
from stockade.images.vulndb import DpkgPackage, VulnDB

FIXTURE = Path(__file__).parent / "data" / "osv-debian12.json"

# --- the range matcher against python-debian ------------------------------------------------

_upstream = st.from_regex(r"[0-9]{1,3}(\.[0-9]{1,3}){0,2}(~(rc|beta)[0-9])?(\+ds[0-9])?",
                          fullmatch=True)
_revision = st.from_regex(r"[0-9]{1,2}(~deb1[0-9]u[0-9])?(\+deb1[0-9]u[0-9])?", fullmatch=True)
debian_versions = st.builds(
    lambda epoch, up, rev: (f"{epoch}:" if epoch else "") + up + (f"-{rev}" if rev else ""),
    st.sampled_from([0, 0, 0, 1, 2]), _upstream, st.one_of(st.none(), _revision))


@settings(max_examples=400, deadline=None)
@given(installed=debian_versions,
       ranges=st.lists(st.tuples(st.one_of(st.just("0"), debian_versions),
                                 st.one_of(st.none(), debian_versions)), max_size=4))
def test_affected_iff_some_range_holds_introduced_le_v_lt_fixed(
        installed: str, ranges: list[tuple[str, str | None]]) -> None:
    osv_ranges = []
    expected = False
    fixes = []
    v = Version(installed)
    for introduced, fixed in ranges:
        if fixed is not None and introduced != "0" and Version(fixed) <= Version(introduced):
            continue  # not a range a feed would publish
        events: list[dict[str, str]] = [{"fixed": fixed}] if fixed else []
        events.append({"introduced": introduced})  # out of order on purpose
        osv_ranges.append({"type": "ECOSYSTEM", "events": events})
        holds = (introduced == "0" or Version(introduced) <= v) and \
            (fixed is None or v < Version(fixed))
        expected |= holds
        if holds and fixed is not None:
            fixes.append(Version(fixed))
    hit, first = vulndb.first_fix(installed, osv_ranges, [], Version)
    assert hit == expected
    if hit and fixes:
        assert first is not None and Version(first) == min(fixes)
    elif hit:
        assert first is None


@settings(max_examples=200, deadline=None)
@given(installed=debian_versions, last=debian_versions)
def test_last_affected_is_inclusive(installed: str, last: str) -> None:
    ranges = [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"last_affected": last}]}]
    assert vulndb.first_fix(installed, ranges, [], Version) == \
        (Version(installed) <= Version(last), None)


def test_debian_order_cases() -> None:
    def hit(v: str, intro: str, fixed: str) -> bool:
        events = [{"introduced": intro}, {"fixed": fixed}]
        return vulndb.first_fix(v, [{"type": "ECOSYSTEM", "events": events}], [], Version)[0]
    assert hit("3.0.19-1~deb12u2", "0", "3.0.19-1~deb12u3")  # tilde sorts before
    assert not hit("3.0.19-1", "0", "3.0.19-1~deb12u3")
    assert not hit("1:1.0-1", "0", "9.9-1")  # an epoch outranks any upstream
    assert hit("1:1.0-1", "1:0.5-1", "1:1.0-2")
    assert not hit("2.0-1", "2.0-1+b1", "3.0-1")  # introduced is inclusive, and after
    assert hit("2.0-1", "2.0-1", "2.0-1+b1")
    assert vulndb.first_fix("1.0", [], ["0.9", "1.0"], Version) == (True, None)
    git = [{"type": "GIT", "events": [{"introduced": "0"}]}]
    assert vulndb.first_fix("1.0", git, [], Version) == (False, None)


# --- loading, status and refusals -----------------------------------------------------------

def _loaded(tmp_path: Path) -> VulnDB:
    db = VulnDB(tmp_path / "vulndb.sqlite")
    db.update(str(FIXTURE))
    return db


def test_fixture_loads_with_date_counts_and_mode(tmp_path: Path) -> None:
    db = _loaded(tmp_path)
    status = db.status()
    assert status is not None
    assert status.records == 8 and status.affected == 8
    assert status.feed_date == "2026-12-01T09:30:00Z"
    assert status.ecosystems == {"Debian:11": 1, "Debian:12": 6, "PyPI": 1}
    assert status.origin == str(FIXTURE)
    assert stat.S_IMODE(db.path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vulndb.sqlite"]
    assert VulnDB(tmp_path / "none.sqlite").status() is None


def _records() -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = json.loads(FIXTURE.read_text())
    return records


def test_json_lines_and_zip_load_the_same(tmp_path: Path) -> None:
    lines = tmp_path / "feed.jsonl"
    lines.write_text("\n".join(json.dumps(r) for r in _records()) + "\n")
    archive = tmp_path / "all.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for record in _records():
            out.writestr(f"{record['id']}.json", json.dumps(record, indent=2))
    for source in (lines, archive):
        db = VulnDB(tmp_path / f"{source.suffix[1:]}.sqlite")
        status = db.update(str(source))
        assert (status.records, status.affected) == (8, 8)
        found = db.match_dpkg([("runc", "1.1.5+ds1-1")], "Debian:12")
        assert [f.id for f in found] == ["DEBIAN-CVE-2025-31133", "DSA-5615-1"]


def _zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as out:
        for name, data in members.items():
            out.writestr(name, data)
    return buffer.getvalue()


BAD_FEEDS: list[tuple[bytes, str]] = [
    (b'[{"id": "DSA-1-1", "affected": [}', "malformed JSON"),
    (b'{"id": "DSA-1-1"}\n{"id": \n', "line 2: malformed JSON"),
    (json.dumps([{"summary": "no id"}]).encode(), "record 1 has no id"),
    (json.dumps([{"id": ""}]).encode(), "record 1 has no id"),
    (json.dumps(["DSA-1-1"]).encode(), "record 1 is not a JSON object"),
    (json.dumps([{"id": "A"}, {"id": "A"}]).encode(), "A appears twice"),
    (b"[]", "holds no OSV records"),
    (b"\xff\xfe garbage", "malformed JSON"),
    (json.dumps([{"id": "A", "affected": [{"package": {"name": "x"}}]}]).encode(),
     "lacks package name or ecosystem"),
    (json.dumps([{"id": "A", "affected": [{
        "package": {"name": "x", "ecosystem": "Debian:12"},
        "ranges": [{"type": "ECOSYSTEM", "events": [{"fixed": "not a version!"}]}]}]}]).encode(),
     "is not a Debian:12 version"),
    (_zip_bytes({"../../etc/evil.json": b'{"id": "A"}'}), "leaves the archive"),
    (_zip_bytes({"/abs.json": b'{"id": "A"}'}), "leaves the archive"),
    (_zip_bytes({"a.json": b'{"id": '}), "a.json: line 1: malformed JSON"),
    (b"PK\x03\x04 truncated", "not a valid zip"),
]


@pytest.mark.parametrize(("blob", "message"), BAD_FEEDS)
def test_bad_feed_is_one_line_and_keeps_the_loaded_one(tmp_path: Path, blob: bytes,
                                                      message: str) -> None:
    db = _loaded(tmp_path)
    before = db.path.read_bytes()
    feed = tmp_path / "bad.feed"
    feed.write_bytes(blob)
    with pytest.raises(InvalidSpec, match="^vulnerability feed .*" + message) as caught:
        db.update(str(feed))
    assert "\n" not in str(caught.value)
    assert db.path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.feed", "vulndb.sqlite"]


def test_oversized_missing_relative_and_special_files_are_refused(tmp_path: Path) -> None:
    db = _loaded(tmp_path)
    before = db.path.read_bytes()
    size = FIXTURE.stat().st_size
    with pytest.raises(InvalidSpec, match=f"larger than {size - 1} bytes"):
        db.update(str(FIXTURE), limit=size - 1)
    assert db.update(str(FIXTURE), limit=size).records == 8
    before = db.path.read_bytes()
    with pytest.raises(InvalidSpec, match="no such file"):
        db.update(str(tmp_path / "missing.json"))
    with pytest.raises(InvalidSpec, match="must be absolute"):
        db.update("data/osv.json")
    with pytest.raises(InvalidSpec, match="not a regular file"):
        db.update(str(tmp_path))
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(InvalidSpec, match="not a regular file"):
        db.update(str(fifo))
    with pytest.raises(InvalidSpec, match="only http and https"):
        db.update("file:///etc/passwd")
    assert db.path.read_bytes() == before


def test_other_ecosystems_legacy_versions_load(tmp_path: Path) -> None:
    legacy = {"id": "PYSEC-1", "affected": [{
        "package": {"ecosystem": "PyPI", "name": "x"},
        "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0.1dev-r1234"}]}]}]}
    assert VulnDB(tmp_path / "v.sqlite").load(json.dumps([legacy]).encode(), "f").records == 1
    assert vulndb.version_parser("PyPI") is not None and vulndb.version_parser("npm") is None


def test_a_zip_member_larger_than_claimed_is_cut_at_the_limit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vulndb, "MAX_RECORD_BYTES", 64)
    blob = _zip_bytes({"big.json": json.dumps({"id": "A", "summary": "x" * 200}).encode()})
    with pytest.raises(InvalidSpec, match=r"big\.json: larger than 64 bytes"):
        VulnDB(tmp_path / "v.sqlite").load(blob, "feed.zip")
    assert list(tmp_path.iterdir()) == []


# --- dpkg status and the host ---------------------------------------------------------------

def test_dpkg_status_maps_binaries_to_their_source(tmp_path: Path) -> None:
    status = tmp_path / "var/lib/dpkg/status"
    status.parent.mkdir(parents=True)
    status.write_text(
        "Package: libssl3\nStatus: install ok installed\nSource: openssl\n"
        "Version: 3.0.19-1~deb12u2\nDescription: x\n multi\n .\n line\n\n"
        "Package: bash\nStatus: install ok installed\nSource: bash (5.2.15-2)\n"
        "Version: 5.2.15-2+b7\n\n"
        "Package: gone\nStatus: deinstall ok config-files\nVersion: 1.0-1\n\n"
        "Package: runc\nStatus: install ok installed\nVersion: 1.1.5+ds1-1+deb12u1\n")
    packages = vulndb.read_dpkg_status(tmp_path)
    assert packages == [
        DpkgPackage("libssl3", "3.0.19-1~deb12u2", "openssl", "3.0.19-1~deb12u2"),
        DpkgPackage("bash", "5.2.15-2+b7", "bash", "5.2.15-2"),
        DpkgPackage("runc", "1.1.5+ds1-1+deb12u1", "runc", "1.1.5+ds1-1+deb12u1")]
    db = VulnDB(tmp_path / "v.sqlite")
    db.load(json.dumps([{"id": "DSA-1-1", "affected": [{
        "package": {"ecosystem": "Debian:12", "name": "bash"},
        "ranges": [{"type": "ECOSYSTEM",
                    "events": [{"introduced": "0"}, {"fixed": "5.2.15-2+b1"}]}]}]}]).encode(),
        "inline")
    # the binNMU's binary version is above the fix, but its source version is not
    [finding] = db.match_dpkg(packages, "Debian:12")
    assert (finding.package, finding.source, finding.installed, finding.fixed) == \
        ("bash", "bash", "5.2.15-2+b7", "5.2.15-2+b1")


def test_release_from_os_release(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/os-release").write_text('ID=debian\nVERSION_ID="12"\n')
    assert vulndb.debian_release(tmp_path) == "Debian:12"
    (tmp_path / "etc/os-release").write_text('ID=debian\nVERSION_ID="11.9"\n')
    assert vulndb.debian_release(tmp_path) == "Debian:11"
    (tmp_path / "etc/os-release").write_text("ID=debian\nPRETTY_NAME=sid\n")
    assert vulndb.debian_release(tmp_path) is None
    (tmp_path / "etc/os-release").write_text("ID=alpine\nVERSION_ID=3.20.1\n")
    assert vulndb.debian_release(tmp_path) is None
    with pytest.raises(InvalidSpec, match="not a Debian release"):
        VulnDB(tmp_path / "v.sqlite").match_dpkg([], "PyPI")


def _dpkg_less(a: str, b: str) -> bool:
    return subprocess.run(["dpkg", "--compare-versions", a, "lt", b], check=False).returncode == 0


def test_fixture_against_this_machines_packages(tmp_path: Path) -> None:
    """The real /var/lib/dpkg/status and /etc/os-release of this VM; the expected findings
    are worked out with dpkg itself (`dpkg --compare-versions`), not python-debian."""
    assert shutil.which("dpkg"), "this test reads a Debian host's own packages"
    release = vulndb.debian_release()
    assert release == "Debian:12"
    packages = vulndb.read_dpkg_status()
    assert len(packages) > 100
    by_name = {p.name: p for p in packages}
    findings = _loaded(tmp_path).match_dpkg(packages, release)
    got = {(f.id, f.package) for f in findings}

    expected = set()
    for record in _records():
        [affected] = record["affected"]
        if affected["package"]["ecosystem"] != release:
            continue
        events = affected["ranges"][0]["events"]
        intro = next(e["introduced"] for e in events if "introduced" in e)
        fixed = next((e["fixed"] for e in events if "fixed" in e), None)
        for p in packages:
            if (p.source or p.name) != affected["package"]["name"]:
                continue
            v = p.source_version or p.version
            if (intro == "0" or not _dpkg_less(v, intro)) and (fixed is None
                                                                or _dpkg_less(v, fixed)):
                expected.add((record["id"], p.name))
    assert got == expected
    # what this VM holds: runc 1.1.5+ds1-1+deb12u1 (DSA-5615-1 fixed exactly there, the
    # 2025 CVE has no fix), linux-perf and linux-libc-dev from source `linux` 6.1.187-1,
    # and openssl's binaries at 3.0.19-1~deb12u2
    assert "runc" in by_name and "linux-perf" in by_name and "libssl3" in by_name
    assert ("DEBIAN-CVE-2025-31133", "runc") in got and ("DSA-5615-1", "runc") not in got
    assert {("DSA-9001-1", "linux-perf"), ("DSA-9002-1", "libssl3")} <= got
    assert not any(i in {"DLA-3840-1", "DEBIAN-CVE-2023-5678", "DLA-3999-1",
                         "PYSEC-2024-0001"} for i, _ in got)
    linux = next(f for f in findings if f.package == "linux-perf")
    assert (linux.source, linux.fixed, linux.severity, linux.aliases) == \
        ("linux", "6.1.190-1", "high", ("CVE-2026-90001", "CVE-2026-90002"))
