"""The image store: named images over shared, content-addressed, read-only layers.

Layout under the root:
    layers/sha256/<hex>[.keep-setuid]/rootfs   one unpacked layer (owned by shifted ids)
    layers/sha256/<hex>/layer.json             its record
    images/<sha256 of name>.json               one image: layer keys, config, packages
    tmp/                                       staging; emptied under the lock
    .lock                                      one writer at a time"""

import contextlib
import fcntl
import hashlib
import io
import os
import shutil
import stat
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from stockade.errors import ImageError, InvalidSpec, NotFound
from stockade.images import base, embedded, formats
from stockade.images.layers import LayerStore
from stockade.images.limits import UnpackLimits
from stockade.images.model import NAME_PATTERN, Image, ImageConfig, ImageRecord, Package
from stockade.images.packdir import pack_path, pack_tree
from stockade.images.progress import NoProgress, Progress
from stockade.images.sources import DirSource, Source, TarSource
from stockade.images.streams import HashingReader, compression_of, decompressed
from stockade.images.unpack import IdShift
from stockade.linux import beneath, private
from stockade.linux.mounts import unmount_under
from stockade.wire.images import GcReport

DEFAULT_ENV = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",)
_NAME = __import__("re").compile(NAME_PATTERN)




class ImageStore:
    """Images live under `root`; see the module docstring for the layout."""

    def __init__(self, root: Path, host_base: int, id_size: int,
                 limits: UnpackLimits | None = None) -> None:
        self.root = root
        self.host_base = host_base
        self.id_size = id_size
        self.limits = limits or UnpackLimits()
        self.tmp = root / "tmp"
        self.layers = LayerStore(root / "layers", self.tmp, IdShift(host_base, id_size),
                                 self.limits)

    # -- reading ------------------------------------------------------------------------

    def _record_path(self, name: str) -> Path:
        return self.root / "images" / (hashlib.sha256(name.encode()).hexdigest()[:32] + ".json")

    def get(self, name: str) -> Image:
        """The image called `name`; the embedded one is built on first use."""
        path = self._record_path(name)
        if not path.exists():
            if name != embedded.NAME:
                raise NotFound(f"no such image: {name}")
            self._build_embedded_once()
        return self._image(ImageRecord.model_validate_json(path.read_text()))

    def _image(self, record: ImageRecord) -> Image:
        return Image(name=record.name, digest=record.digest,
                     layers=tuple(self.layers.rootfs(k) for k in record.layer_keys),
                     config=record.config, size_bytes=record.size_bytes,
                     layer_keys=record.layer_keys, created_at=record.created_at,
                     source=record.source, packages=record.packages, notes=record.notes)

    def records(self) -> list[ImageRecord]:
        directory = self.root / "images"
        if not directory.exists():
            return []
        found = [ImageRecord.model_validate_json(p.read_text())
                 for p in directory.glob("*.json")]
        return sorted(found, key=lambda r: r.name)

    def list(self) -> list[Image]:
        return [self._image(r) for r in self.records()]

    # -- writing ------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One writer at a time; staging left by a crashed writer is cleared on entry."""
        self.root.mkdir(parents=True, exist_ok=True)
        # closed: overlay reaches the layers as the daemon that mounts them, and the
        # records hold each image's environment
        self.root.chmod(0o700)
        lock = private.open_append(self.root / ".lock")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self.layers.clear_tmp()
            try:
                yield
            finally:
                self.layers.clear_tmp()
        finally:
            os.close(lock)

    def _save(self, record: ImageRecord) -> Image:
        path = self._record_path(record.name)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        private.write_atomic(path, record.model_dump_json(indent=1))
        return self._image(record)

    def import_path(self, path: Path, name: str | None = None, keep_setuid: bool = False,
                    progress: Progress | None = None,
                    within: tuple[Path, ...] = (Path("/"),)) -> Image:
        """Import an OCI layout or archive, a docker archive, or a root filesystem.

        `path` is resolved once, below the one of `within` it is written under and without
        following any symlink; everything is then read through that descriptor, so a
        component swapped meanwhile changes nothing (see linux/beneath.py)."""
        if name is not None:
            check_name(name)
        opened = beneath.open_under(str(path), within, "image path")
        try:
            mode = os.fstat(opened).st_mode
            if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
                raise ImageError(f"{path} is neither a regular file nor a directory")
            report = progress or NoProgress()
            with self._locked():
                if stat.S_ISDIR(mode):
                    return self._import_dir(opened, path, name, keep_setuid, report)
                return self._import_file(opened, path, name, keep_setuid, report)
        finally:
            os.close(opened)

    def _import_dir(self, opened: int, path: Path, name: str | None, keep_setuid: bool,
                    progress: Progress) -> Image:
        source = DirSource(opened, path)
        kind = formats.detect(source)
        if kind != "rootfs":
            return self._import_layout(source, kind, path, name, keep_setuid, progress)
        tar = self.tmp / f"rootfs-{uuid.uuid4().hex}.tar"
        progress.message(f"packing {path}")
        pack_tree(opened, tar)
        return self._import_rootfs_tar(tar, name or _stem(path), f"directory {path}",
                                       keep_setuid, progress, ImageConfig(env=DEFAULT_ENV,
                                                                          cmd=("sh",)))

    def _import_file(self, opened: int, path: Path, name: str | None, keep_setuid: bool,
                     progress: Progress) -> Image:
        # Read through our own descriptor's /proc entry: each open there is the file we
        # resolved, whatever becomes of `path` meanwhile.
        held = Path(f"/proc/self/fd/{opened}")
        tar = self._uncompressed(held, path, progress)
        source = TarSource(tar, self.limits)
        try:
            kind = formats.detect(source)
            if kind != "rootfs":
                return self._import_layout(source, kind, path, name, keep_setuid, progress)
        finally:
            source.close()
        return self._import_rootfs_tar(tar, name or _stem(path), f"archive {path}", keep_setuid,
                                       progress, ImageConfig(env=DEFAULT_ENV, cmd=("sh",)))

    def _uncompressed(self, path: Path, shown: Path, progress: Progress) -> Path:
        """Archives are read in place; a compressed one is first expanded into tmp."""
        with path.open("rb") as handle:
            head = handle.read(4)
        if compression_of(head) == "none":
            return path
        progress.message(f"decompressing {shown.name}")
        target = self.tmp / f"archive-{uuid.uuid4().hex}.tar"
        self.tmp.mkdir(mode=0o700, parents=True, exist_ok=True)
        limit = self.limits.max_layer_bytes * 4
        with path.open("rb") as raw, target.open("wb") as out:
            reader = HashingReader(decompressed(io.BufferedReader(raw)), limit=limit,
                                   what="decompressed archive")
            try:
                shutil.copyfileobj(reader, out, 1 << 20)
            except (OSError, EOFError) as exc:
                raise ImageError(f"{shown} is corrupt: {exc}") from exc
        return target

    def _import_layout(self, source: Source, kind: str, origin: Path, name: str | None,
                       keep_setuid: bool, progress: Progress) -> Image:
        plan = formats.plan_oci(source, self.limits) if kind == "oci" else \
            formats.plan_docker(source, self.limits)
        chosen = name or plan.suggested_name or _stem(origin)
        check_name(chosen)
        keys, size, notes = [], 0, []
        for index, ref in enumerate(plan.layers):
            progress.layer_started(index, len(plan.layers), ref.blob_digest or ref.diff_id or "",
                                   ref.size)
            blob, _ = source.open(ref.path)
            with blob:
                record, reused = self.layers.add(blob, expected_blob=ref.blob_digest,
                                                 expected_diff=ref.diff_id,
                                                 keep_setuid=keep_setuid, progress=progress)
            progress.layer_finished(record.diff_id, reused)
            keys.append(record.key)
            size += record.size_bytes
            notes.extend(_notes(record.stripped_setuid, record.skipped))
        return self._save(ImageRecord(
            name=chosen, digest=plan.digest, layer_keys=tuple(keys), config=plan.config,
            size_bytes=size, created_at=time.time(), source=f"{plan.kind} {origin}",
            notes=tuple(notes[:200])))

    def _import_rootfs_tar(self, tar: Path, name: str, source: str, keep_setuid: bool,
                           progress: Progress, config: ImageConfig,
                           packages: tuple[Package, ...] = ()) -> Image:
        check_name(name)
        progress.layer_started(0, 1, source, tar.stat().st_size)
        with tar.open("rb") as blob:
            record, reused = self.layers.add(blob, expected_blob=None, expected_diff=None,
                                             keep_setuid=keep_setuid, progress=progress)
        progress.layer_finished(record.diff_id, reused)
        return self._save(ImageRecord(
            name=name, digest=record.diff_id, layer_keys=(record.key,), config=config,
            size_bytes=record.size_bytes, created_at=time.time(), source=source,
            packages=packages, notes=tuple(_notes(record.stripped_setuid, record.skipped))))

    def add_rootfs(self, rootfs: Path, name: str, config: ImageConfig, source: str,
                   packages: tuple[Package, ...] = (), progress: Progress | None = None) -> Image:
        """Register a tree we built ourselves (embedded, base) through the same safe path."""
        with self._locked():
            return self._add_rootfs_locked(rootfs, name, config, source, packages,
                                           progress or NoProgress())

    def _add_rootfs_locked(self, rootfs: Path, name: str, config: ImageConfig, source: str,
                           packages: tuple[Package, ...], progress: Progress) -> Image:
        tar = self.tmp / f"rootfs-{uuid.uuid4().hex}.tar"
        progress.message(f"packing {name}")
        pack_path(rootfs, tar)
        return self._import_rootfs_tar(tar, name, source, False, progress, config, packages)

    def build_base(self, name: str = base.DEFAULT_NAME,
                   progress: Progress | None = None) -> Image:
        """debootstrap, harden, record packages, register; the staging tree never survives."""
        check_name(name)
        report = progress or NoProgress()
        self.root.mkdir(parents=True, exist_ok=True)
        staging = self.root / f"build-{uuid.uuid4().hex}"
        staging.mkdir(mode=0o700)
        try:
            rootfs = staging / "rootfs"
            base.debootstrap(rootfs, report)
            unmount_under(staging)  # debootstrap mounts /proc in the target while it runs
            stripped = base.harden(rootfs, report)
            packages = base.packages(rootfs)
            report.message(f"{len(packages)} packages, {len(stripped)} setuid/setgid bits "
                           "removed; importing")
            mirror, suite = base.debian_mirror()
            return self.add_rootfs(rootfs, name, base.CONFIG, f"debootstrap {suite} {mirror}",
                                   packages, report)
        finally:
            unmount_under(staging)
            shutil.rmtree(staging, ignore_errors=True)

    def clear_builds(self) -> None:
        """Staging trees of builds that were killed (cleanup calls this)."""
        for leftover in self.root.glob("build-*"):
            unmount_under(leftover)
            shutil.rmtree(leftover, ignore_errors=True)

    def _build_embedded_once(self) -> None:
        """Concurrent first runs must not build the embedded image twice."""
        with self._locked():
            if self._record_path(embedded.NAME).exists():
                return
            staging = self.tmp / f"embedded-{uuid.uuid4().hex}"
            staging.mkdir(parents=True)
            embedded.build_rootfs(staging)
            self._add_rootfs_locked(staging, embedded.NAME, embedded.CONFIG, "embedded", (),
                                    NoProgress())

    def remove(self, name: str) -> ImageRecord:
        """Forget the name; the engine has already checked no container uses it."""
        with self._locked():
            path = self._record_path(name)
            if not path.exists():
                raise NotFound(f"no such image: {name}")
            record = ImageRecord.model_validate_json(path.read_text())
            path.unlink()
            return record

    def gc(self, keep: set[str] | None = None) -> GcReport:
        """Remove layers no image references and no one (`keep`) still runs on."""
        with self._locked():
            wanted = {k for r in self.records() for k in r.layer_keys} | (keep or set())
            removed, freed = [], 0
            for key in self.layers.stored():
                if key not in wanted:
                    freed += self.layers.remove(key)
                    removed.append(key)
            return GcReport(removed_layers=removed, freed_bytes=freed)


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise InvalidSpec(f"invalid image name {name!r}: letters, digits and ._/:@- only")
    return name


def _stem(path: Path) -> str:
    stem = path.name
    for suffix in (".gz", ".zst", ".tgz", ".tar"):
        stem = stem.removesuffix(suffix)
    clean = "".join(c if c.isalnum() or c in "._-" else "-" for c in stem).lstrip("._-")
    return clean or "image"


def _notes(stripped: tuple[str, ...], skipped: tuple[str, ...]) -> list[str]:
    notes = [f"setuid/setgid bits removed from /{p}" for p in stripped]
    notes += [f"skipped /{p}" for p in skipped]
    return notes

