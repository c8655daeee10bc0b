"""`stockade vulndb` through a real daemon: the fixture feed fetched by the daemon from a
loopback HTTP server the test runs, shown by `status`, audited, kept 0600 under the root;
bad feeds (a 404, malformed JSON, a zip escaping its names) are one line and keep what was
loaded; and the loaded database, matched against this VM's real dpkg status, finds runc
and the kernel's source package."""

import functools
import json
import stat
import threading
import zipfile
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from stockade.errors import InvalidSpec
from stockade.images import vulndb
from tests.daemonkit import Daemon

pytestmark = pytest.mark.integration
FIXTURE = Path(__file__).resolve().parents[1] / "unit" / "data" / "osv-debian12.json"


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A directory served over HTTP on 127.0.0.1; stopped and closed after the test."""
    server = ThreadingHTTPServer(("127.0.0.1", 0),
                                 functools.partial(_Quiet, directory=str(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", tmp_path
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _json(daemon: Daemon, *args: str) -> Any:
    done = daemon.cli(*args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _refused(daemon: Daemon, source: str, words: str) -> None:
    done = daemon.cli("vulndb", "update", "--from", source)
    assert done.returncode == 125, done.stdout
    assert words in done.stderr and done.stderr.count("\n") == 1, done.stderr


def test_load_from_loopback_status_refusals_and_host_match(
        daemon: Daemon, served: tuple[str, Path]) -> None:
    url, where = served
    records = json.loads(FIXTURE.read_text())
    with zipfile.ZipFile(where / "all.zip", "w") as out:  # osv.dev's per-ecosystem form
        for record in records:
            out.writestr(f"{record['id']}.json", json.dumps(record, indent=2))

    empty = daemon.cli("vulndb", "status")
    assert empty.returncode == 0 and "no vulnerability feed loaded" in empty.stdout

    loaded = _json(daemon, "vulndb", "update", "--from", f"{url}/all.zip")
    assert (loaded["loaded"], loaded["records"], loaded["affected"]) == (True, 8, 8)
    assert loaded["feed_date"] == "2026-12-01T09:30:00Z"
    assert loaded["ecosystems"] == {"Debian:11": 1, "Debian:12": 6, "PyPI": 1}
    assert _json(daemon, "vulndb", "status") == loaded
    shown = daemon.cli("vulndb", "status").stdout
    assert f"feed:       {url}/all.zip" in shown and "records:    8 (8 affected" in shown
    database = daemon.root / "vulndb.sqlite"
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
    before = database.read_bytes()

    (where / "bad.json").write_text('[{"id": "DSA-1-1", "affected": [}')
    with zipfile.ZipFile(where / "evil.zip", "w") as out:
        out.writestr("../../etc/cron.d/evil.json", json.dumps(records[0]))
    (where / "noid.jsonl").write_text('{"summary": "no id"}\n')
    _refused(daemon, f"{url}/missing.zip", "the server answered 404")
    _refused(daemon, f"{url}/bad.json", "malformed JSON")
    _refused(daemon, str(where / "evil.zip"), "leaves the archive")
    _refused(daemon, str(where / "noid.jsonl"), "record 1 has no id")
    _refused(daemon, "ftp://127.0.0.1/feed.zip", "only http and https")
    assert database.read_bytes() == before
    assert sorted(p.name for p in daemon.root.iterdir() if "vulndb" in p.name) == \
        ["vulndb.sqlite"]
    assert _json(daemon, "vulndb", "status") == loaded

    audit = json.loads(daemon.audit("--json").stdout)
    feeds = [r for r in audit if r["action"] == "vulnerability feed loaded"]
    assert [(r["target"], r["details"]["records"]) for r in feeds] == [(f"{url}/all.zip", 8)]

    # what `host check` will do with it: this VM's packages against the daemon's database
    release = vulndb.debian_release()
    assert release == "Debian:12"
    findings = vulndb.VulnDB(database).match_dpkg(vulndb.read_dpkg_status(), release)
    found = {(f.id, f.package, f.source) for f in findings}
    assert ("DEBIAN-CVE-2025-31133", "runc", "runc") in found
    assert ("DSA-9001-1", "linux-perf", "linux") in found


def test_a_download_over_the_limit_is_refused(served: tuple[str, Path]) -> None:
    url, where = served
    (where / "big.json").write_bytes(b" " * 4096)
    with pytest.raises(InvalidSpec, match="larger than 1000 bytes"):
        vulndb.fetch(f"{url}/big.json", limit=1000)
    assert vulndb.fetch(f"{url}/big.json", limit=4096) == b" " * 4096
