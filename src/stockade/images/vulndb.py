"""The offline vulnerability database: OSV records loaded from a file or a URL the operator
names, kept in one sqlite file, and matched against installed Debian packages.

Feeds come in the forms osv.dev publishes: a .zip of one OSV JSON record per member (the
per-ecosystem `all.zip`), a JSON array of records, or JSON lines. An update builds a new
database beside the old one and renames it into place, so a bad feed leaves the previous
database as it was. Versions compare by the ecosystem's own rules through real libraries:
dpkg's with python-debian, PEP 440's with packaging. Other ecosystems' records are kept but
not matched yet.

Debian's records (DSA, DLA, DEBIAN-CVE) name *source* packages and source versions, while
dpkg lists binary packages; `DpkgPackage` carries the binary's `Source:` so a finding for
`openssl` reaches `libssl3`.
"""

import contextlib
import io
import json
import os
import sqlite3
import stat
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple

from debian import deb822
from debian.debian_support import Version as DebianVersion
from packaging.version import InvalidVersion
from packaging.version import Version as Pep440Version

from stockade.errors import InvalidSpec

MAX_FEED_BYTES = 512 << 20
"""A feed file or download larger than this is refused (osv.dev's Debian all.zip is far
below it)."""
MAX_RECORD_BYTES = 4 << 20
"""One OSV record, or one zip member, uncompressed; the largest real ones are a few KiB."""
MAX_UNPACKED_BYTES = 4 << 30
"""All zip members together, uncompressed: a bound on a zip bomb."""
FETCH_TIMEOUT_S = 60.0
_SCHEMA = 1


class DpkgPackage(NamedTuple):
    """One installed binary package. A bare `(name, version)` tuple works too: then the
    source is taken to be the binary of the same name and version."""

    name: str
    version: str
    source: str = ""
    source_version: str = ""


@dataclass(frozen=True)
class Finding:
    id: str
    package: str
    """The installed binary package."""
    source: str
    """The source package the record names."""
    installed: str
    fixed: str | None
    """The first fixed version above the installed one; None when no fix is known."""
    severity: str | None
    summary: str
    aliases: tuple[str, ...]


@dataclass(frozen=True)
class FeedStatus:
    origin: str
    """The file or URL the feed was loaded from."""
    loaded_at: float
    feed_date: str | None
    """The newest `modified` among the records: how recent the feed is."""
    records: int
    affected: int
    """(record, ecosystem, package) entries."""
    ecosystems: dict[str, int]
    """Records per ecosystem, e.g. {"Debian:12": 1234}."""


def _bad(origin: str, what: str) -> InvalidSpec:
    return InvalidSpec(f"vulnerability feed {origin}: {what}")


# --- version ranges ------------------------------------------------------------------------

Comparable = Any
_PARSERS: dict[str, Callable[[str], Comparable]] = {
    "Debian": DebianVersion,
    "PyPI": Pep440Version,
}


def version_parser(ecosystem: str) -> Callable[[str], Comparable] | None:
    """The version rule of an OSV ecosystem ("Debian:12" follows "Debian"), or None."""
    return _PARSERS.get(ecosystem.split(":", 1)[0])


def _is_zero(value: str) -> bool:
    return value == "0"


def first_fix(installed: str, ranges: Sequence[dict[str, Any]], versions: Sequence[str],
              parse: Callable[[str], Comparable]) -> tuple[bool, str | None]:
    """Whether `installed` is affected, and the lowest fixed version above it, by OSV's
    rules: within an ECOSYSTEM range, a version is affected from an `introduced` event (0
    meaning the very beginning) until a `fixed` (exclusive) or after a `last_affected`
    (inclusive); several ranges and the explicit `versions` list are alternatives."""
    v = parse(installed)
    affected = installed in versions
    fixes: list[tuple[Comparable, str]] = []
    for rng in ranges:
        if rng.get("type") != "ECOSYSTEM":
            continue
        in_range = False
        for event in _sorted_events(rng.get("events", []), parse):
            kind, value = next(iter(event.items()))
            if kind == "introduced" and (_is_zero(value) or v >= parse(value)):
                in_range = True
            elif kind in ("fixed", "last_affected"):
                end = parse(value)
                in_range = in_range and (v < end if kind == "fixed" else v <= end)
        if in_range:
            affected = True
            fixes += [(parse(e["fixed"]), e["fixed"]) for e in rng.get("events", [])
                      if "fixed" in e and parse(e["fixed"]) > v]
    if not affected:
        return False, None
    return True, (min(fixes, key=lambda pair: pair[0])[1] if fixes else None)


def _sorted_events(events: Iterable[dict[str, str]],
                   parse: Callable[[str], Comparable]) -> list[dict[str, str]]:
    # OSV leaves event order unspecified; an "introduced: 0" sorts before everything, and at
    # one version an introduction comes before the fix that may close it.
    order = {"introduced": 0, "fixed": 1, "last_affected": 2, "limit": 3}
    usable = [e for e in events if len(e) == 1 and next(iter(e)) in order]
    zero = [e for e in usable if e.get("introduced") == "0"]
    rest = [e for e in usable if e.get("introduced") != "0"]
    rest.sort(key=lambda e: (parse(next(iter(e.values()))), order[next(iter(e))]))
    return zero + rest


# --- reading feeds -------------------------------------------------------------------------

def _records_of_json(text: bytes, origin: str) -> Iterator[dict[str, Any]]:
    try:
        whole = json.loads(text)
    except UnicodeDecodeError as exc:
        raise _bad(origin, f"not UTF-8 text: {exc}") from None
    except json.JSONDecodeError as exc:
        if not text.lstrip().startswith(b"{"):
            raise _bad(origin, f"malformed JSON: {exc}") from None
        whole = None  # JSON lines: one record per line
    if isinstance(whole, list):
        yield from whole
        return
    if whole is not None:
        yield whole  # a single record, as in one member of osv.dev's zip
        return
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise _bad(origin, f"line {number}: malformed JSON: {exc}") from None


def _zip_records(blob: bytes, origin: str) -> Iterator[dict[str, Any]]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(blob))
    except zipfile.BadZipFile as exc:
        raise _bad(origin, f"not a valid zip: {exc}") from None
    with archive:
        members = archive.infolist()
        for info in members:
            name = PurePosixPath(info.filename)
            if info.filename.startswith("/") or "\\" in info.filename or ".." in name.parts:
                raise _bad(origin, f"zip member name {info.filename!r} leaves the archive")
        if sum(info.file_size for info in members) > MAX_UNPACKED_BYTES:
            raise _bad(origin, f"zip unpacks to more than {MAX_UNPACKED_BYTES} bytes")
        for info in members:
            if info.is_dir() or not info.filename.endswith(".json"):
                continue
            if info.file_size > MAX_RECORD_BYTES:
                raise _bad(origin, f"{info.filename}: larger than {MAX_RECORD_BYTES} bytes")
            with archive.open(info) as member:
                # file_size is the archive's claim; read no more than the limit whatever it says
                text = member.read(MAX_RECORD_BYTES + 1)
            if len(text) > MAX_RECORD_BYTES:
                raise _bad(origin, f"{info.filename}: larger than {MAX_RECORD_BYTES} bytes")
            yield from _records_of_json(text, f"{origin}:{info.filename}")


def read_feed(blob: bytes, origin: str) -> Iterator[dict[str, Any]]:
    """The OSV records of a feed: a zip, a JSON array, a single record, or JSON lines."""
    if blob.startswith(b"PK\x03\x04") or blob.startswith(b"PK\x05\x06"):
        yield from _zip_records(blob, origin)
    else:
        yield from _records_of_json(blob, origin)


def fetch(url: str, limit: int = MAX_FEED_BYTES) -> bytes:
    """The feed at an http(s) URL the operator named, size-limited; nothing else is fetched."""
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in ("http", "https"):
        raise _bad(url, "only http and https URLs can be fetched")
    request = urllib.request.Request(url, headers={"User-Agent": "stockade-vulndb"})
    try:
        with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT_S) as answer:
            blob: bytes = answer.read(limit + 1)
    except urllib.error.HTTPError as exc:
        raise _bad(url, f"the server answered {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise _bad(url, f"could not fetch: {reason}") from None
    if len(blob) > limit:
        raise _bad(url, f"larger than {limit} bytes")
    return blob


def read_source(source: str, limit: int = MAX_FEED_BYTES) -> bytes:
    """The bytes of a feed named by an absolute path or an http(s) URL."""
    if "://" in source:
        return fetch(source, limit)
    path = Path(source)
    if not path.is_absolute():
        raise _bad(source, "the path must be absolute")
    try:
        # non-blocking, so a FIFO named as the feed is refused rather than waited on
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise _bad(source, "no such file") from None
    except PermissionError:
        raise _bad(source, "permission denied") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise _bad(source, "not a regular file")
    with os.fdopen(fd, "rb") as feed:
        blob = feed.read(limit + 1)
    if len(blob) > limit:
        raise _bad(source, f"larger than {limit} bytes")
    return blob


# --- the store -----------------------------------------------------------------------------

def _severity(record: dict[str, Any], affected: dict[str, Any]) -> str | None:
    for holder in (affected.get("ecosystem_specific"), affected.get("database_specific"),
                   record.get("database_specific")):
        if isinstance(holder, dict):
            for key in ("severity", "urgency"):
                if isinstance(holder.get(key), str):
                    return str(holder[key])
    for entry in record.get("severity") or []:
        if isinstance(entry, dict) and isinstance(entry.get("score"), str):
            return str(entry["score"])
    return None


def _check(record: object, origin: str, number: int) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise _bad(origin, f"record {number} is not a JSON object")
    rid = record.get("id")
    if not isinstance(rid, str) or not rid.strip():
        raise _bad(origin, f"record {number} has no id")
    affected = record.get("affected", [])
    if not isinstance(affected, list) or not all(isinstance(a, dict) for a in affected):
        raise _bad(origin, f"{rid}: 'affected' must be a list of objects")
    for entry in affected:
        package = entry.get("package")
        if not isinstance(package, dict) or not isinstance(package.get("name"), str) \
                or not isinstance(package.get("ecosystem"), str):
            raise _bad(origin, f"{rid}: an affected entry lacks package name or ecosystem")
        if not isinstance(entry.get("ranges", []), list) \
                or not isinstance(entry.get("versions", []), list):
            raise _bad(origin, f"{rid}: 'ranges' and 'versions' must be lists")
        # dpkg versions are checked at load, so a Debian feed is refused whole rather than
        # matched wrongly; other ecosystems' feeds hold legacy versions their own rules reject
        # (PyPI's pre-PEP 440 releases), and their matchers skip what they cannot read
        ecosystem = package["ecosystem"]
        parse = version_parser(ecosystem) if ecosystem.split(":")[0] == "Debian" else None
        for rng in entry.get("ranges", []):
            events = rng.get("events") if isinstance(rng, dict) else None
            if not isinstance(events, list) or not all(
                    isinstance(e, dict) and len(e) == 1
                    and all(isinstance(v, str) for v in e.values()) for e in events):
                raise _bad(origin, f"{rid}: a range needs a list of one-key string events")
            if parse is not None and rng.get("type") == "ECOSYSTEM":
                for event in events:
                    value = next(iter(event.values()))
                    try:
                        if value != "0":
                            parse(value)
                    except (ValueError, InvalidVersion):
                        raise _bad(origin, f"{rid}: version {value!r} is not a "
                                   f"{package['ecosystem']} version") from None
    return record


_TABLES = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE records (id TEXT PRIMARY KEY, modified TEXT, summary TEXT NOT NULL,
                      aliases TEXT NOT NULL);
CREATE TABLE affected (record TEXT NOT NULL, ecosystem TEXT NOT NULL, package TEXT NOT NULL,
                       ranges TEXT NOT NULL, versions TEXT NOT NULL, severity TEXT);
CREATE INDEX affected_by_package ON affected (ecosystem, package);
"""


class VulnDB:
    """The database file at `path` (the engine keeps it at <root>/vulndb.sqlite, 0600)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _connect(self) -> sqlite3.Connection | None:
        if not self.path.exists():
            return None
        return sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)

    def update(self, source: str, limit: int = MAX_FEED_BYTES) -> FeedStatus:
        """Load the feed at `source` (an absolute path or an http(s) URL) in place of the
        current database; on any error the current one is untouched."""
        blob = read_source(source, limit)
        return self.load(blob, source)

    def load(self, blob: bytes, origin: str) -> FeedStatus:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temp = self.path.with_name(
            f".{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        # created 0600 before sqlite opens it: the records are not secret, but which of them
        # the operator chose to load, and when, belongs to root like the rest of the state
        os.close(os.open(temp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        try:
            status = self._build(temp, blob, origin)
            os.replace(temp, self.path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
        return status

    def _build(self, temp: Path, blob: bytes, origin: str) -> FeedStatus:
        db = sqlite3.connect(temp)
        try:
            db.execute("PRAGMA journal_mode=OFF")
            db.executescript(_TABLES)
            seen: set[str] = set()
            newest: str | None = None
            affected_rows = 0
            ecosystems: dict[str, int] = {}
            for number, raw in enumerate(read_feed(blob, origin), 1):
                record = _check(raw, origin, number)
                rid = record["id"]
                if rid in seen:
                    raise _bad(origin, f"{rid} appears twice")
                seen.add(rid)
                modified = record.get("modified")
                if isinstance(modified, str) and (newest is None or modified > newest):
                    newest = modified
                aliases = [a for a in record.get("aliases") or [] if isinstance(a, str)]
                db.execute("INSERT INTO records VALUES (?, ?, ?, ?)",
                           (rid, modified if isinstance(modified, str) else None,
                            str(record.get("summary") or record.get("details") or "")[:500],
                            json.dumps(aliases)))
                for ecosystem in {a["package"]["ecosystem"] for a in record.get("affected", [])}:
                    ecosystems[ecosystem] = ecosystems.get(ecosystem, 0) + 1
                for entry in record.get("affected", []):
                    db.execute("INSERT INTO affected VALUES (?, ?, ?, ?, ?, ?)",
                               (rid, entry["package"]["ecosystem"], entry["package"]["name"],
                                json.dumps(entry.get("ranges", [])),
                                json.dumps(entry.get("versions", [])),
                                _severity(record, entry)))
                    affected_rows += 1
            if not seen:
                raise _bad(origin, "holds no OSV records")
            status = FeedStatus(origin=origin, loaded_at=time.time(), feed_date=newest,
                                records=len(seen), affected=affected_rows,
                                ecosystems=dict(sorted(ecosystems.items())))
            meta = {"schema": str(_SCHEMA), "origin": origin,
                    "loaded_at": repr(status.loaded_at), "feed_date": newest or "",
                    "records": str(status.records), "affected": str(affected_rows),
                    "ecosystems": json.dumps(status.ecosystems)}
            db.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
            db.commit()
            return status
        finally:
            db.close()

    def status(self) -> FeedStatus | None:
        """What is loaded, or None when no feed was ever loaded."""
        db = self._connect()
        if db is None:
            return None
        try:
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        finally:
            db.close()
        return FeedStatus(origin=meta["origin"], loaded_at=float(meta["loaded_at"]),
                          feed_date=meta["feed_date"] or None, records=int(meta["records"]),
                          affected=int(meta["affected"]),
                          ecosystems=json.loads(meta["ecosystems"]))

    def match_dpkg(self, packages: Iterable[DpkgPackage | tuple[str, str]],
                   release: str) -> list[Finding]:
        """Findings for installed Debian packages of `release` ("Debian:12"), each binary
        matched by its source package and source version; sorted by package, then id."""
        parse = version_parser(release)
        if parse is None or not release.startswith("Debian"):
            raise InvalidSpec(f"{release!r} is not a Debian release such as 'Debian:12'")
        db = self._connect()
        if db is None:
            return []
        findings: list[Finding] = []
        try:
            for item in packages:
                package = DpkgPackage(*item)
                source = package.source or package.name
                version = package.source_version or package.version
                rows = db.execute(
                    "SELECT a.record, a.ranges, a.versions, a.severity, r.summary, r.aliases"
                    " FROM affected a JOIN records r ON r.id = a.record"
                    " WHERE a.ecosystem = ? AND a.package = ?", (release, source)).fetchall()
                for rid, ranges, versions, severity, summary, aliases in rows:
                    try:
                        hit, fixed = first_fix(version, json.loads(ranges),
                                               json.loads(versions), parse)
                    except ValueError:  # an installed version dpkg accepted but we cannot read
                        continue
                    if hit:
                        findings.append(Finding(
                            id=rid, package=package.name, source=source,
                            installed=package.version, fixed=fixed, severity=severity,
                            summary=summary, aliases=tuple(json.loads(aliases))))
        finally:
            db.close()
        return sorted(findings, key=lambda f: (f.package, f.id))


# --- the host's (or an image's) packages ---------------------------------------------------

def read_dpkg_status(root: Path = Path("/")) -> list[DpkgPackage]:
    """The installed packages in `root`'s /var/lib/dpkg/status, with the source package and
    its version where the `Source:` field names them ("Source: gcc-12 (12.2.0-14)")."""
    path = root / "var/lib/dpkg/status"
    packages: list[DpkgPackage] = []
    with path.open(encoding="utf-8", errors="replace") as status:
        for paragraph in deb822.Deb822.iter_paragraphs(status, use_apt_pkg=False):
            name, version = paragraph.get("Package"), paragraph.get("Version")
            state = paragraph.get("Status", "").split()
            if not name or not version or state[-1:] != ["installed"]:
                continue
            source, source_version = name, version
            if field := paragraph.get("Source", "").strip():
                source, _, rest = field.partition(" ")
                if rest.strip().startswith("(") and rest.strip().endswith(")"):
                    source_version = rest.strip()[1:-1].strip()
            packages.append(DpkgPackage(name, version, source, source_version))
    return packages


def debian_release(root: Path = Path("/")) -> str | None:
    """The OSV ecosystem of `root`'s Debian release ("Debian:12"), from /etc/os-release;
    None on another distribution or a release without a number (testing, sid)."""
    fields: dict[str, str] = {}
    for candidate in (root / "etc/os-release", root / "usr/lib/os-release"):
        with contextlib.suppress(OSError):
            for line in candidate.read_text(encoding="utf-8", errors="replace").splitlines():
                key, sep, value = line.partition("=")
                if sep:
                    fields[key.strip()] = value.strip().strip("\"'")
            break
    if fields.get("ID") != "debian" or not fields.get("VERSION_ID"):
        return None
    return f"Debian:{fields['VERSION_ID'].split('.')[0]}"
