"""The content-addressed layer store: each layer unpacked once, verified, then shared."""

import contextlib
import io
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import BinaryIO

from stockade.errors import ImageError
from stockade.images.limits import UnpackLimits
from stockade.images.model import LayerRecord
from stockade.images.progress import NoProgress, Progress
from stockade.images.streams import HashingReader, SafeDecompressor, decompressed
from stockade.images.tarstream import TarReader
from stockade.images.unpack import IdShift, LayerUnpacker
from stockade.linux import private

_BUFFER = 1 << 20
_TAR_OVERHEAD = 4  # headers and padding cannot make a tar more than a few times its content
KEEP_SETUID_SUFFIX = ".keep-setuid"


def check_digest(value: str) -> str:
    """Only well-formed sha256 digests may name a blob or a layer directory."""
    algorithm, _, hexdigest = value.partition(":")
    if algorithm != "sha256":
        raise ImageError(f"unsupported digest algorithm in {value[:80]!r}: only sha256")
    if len(hexdigest) != 64 or any(c not in "0123456789abcdef" for c in hexdigest):
        raise ImageError(f"malformed digest {value[:80]!r}")
    return value


class LayerStore:
    """Layers under `root`/sha256/<hex>[.keep-setuid]/rootfs with a layer.json beside it."""

    def __init__(self, root: Path, tmp: Path, ids: IdShift, limits: UnpackLimits) -> None:
        self.root = root / "sha256"
        self.tmp = tmp
        self.ids = ids
        self.limits = limits

    def rootfs(self, key: str) -> Path:
        return self.root / key / "rootfs"

    def record(self, key: str) -> LayerRecord | None:
        try:
            return LayerRecord.model_validate_json((self.root / key / "layer.json").read_text())
        except FileNotFoundError:
            return None

    def stored(self) -> list[str]:
        if not self.root.exists():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / "layer.json").exists())

    @staticmethod
    def key_for(diff_id: str, keep_setuid: bool) -> str:
        return check_digest(diff_id).partition(":")[2] + (KEEP_SETUID_SUFFIX if keep_setuid
                                                          else "")

    def add(self, blob: BinaryIO, *, expected_blob: str | None, expected_diff: str | None,
            keep_setuid: bool, progress: Progress | None = None) -> tuple[LayerRecord, bool]:
        """Unpack and verify one layer blob; (record, True) when it was already stored."""
        if expected_diff is not None:
            existing = self.record(self.key_for(expected_diff, keep_setuid))
            if existing is not None:
                return existing, True
        staging = self._staging()
        try:
            record = self._unpack(blob, staging, expected_blob, expected_diff, keep_setuid,
                                  progress or NoProgress())
            return self._publish(staging, record)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _staging(self) -> Path:
        self.tmp.mkdir(mode=0o700, parents=True, exist_ok=True)
        staging = self.tmp / f"layer-{uuid.uuid4().hex}"
        (staging / "rootfs").mkdir(parents=True)
        staging.chmod(0o700)  # overlay reaches a lower layer as the daemon: no passage
        return staging

    def _unpack(self, blob: BinaryIO, staging: Path, expected_blob: str | None,
                expected_diff: str | None, keep_setuid: bool,
                progress: Progress) -> LayerRecord:
        raw = HashingReader(blob, on_bytes=progress.advanced, what="layer blob")
        source = io.BufferedReader(raw, _BUFFER)
        plain = HashingReader(SafeDecompressor(decompressed(source), "layer"),
                              limit=self.limits.max_layer_bytes * _TAR_OVERHEAD,
                              what="uncompressed layer")
        with LayerUnpacker(staging / "rootfs", self.ids, keep_setuid, self.limits) as unpacker:
            for entry in TarReader(io.BufferedReader(plain, _BUFFER), self.limits).entries():
                unpacker.apply(entry)
            report = unpacker.report
        plain.drain()
        raw.drain()
        _verify("layer blob", expected_blob, raw.digest)
        _verify("layer content (diff id)", expected_diff, plain.digest)
        return LayerRecord(
            key=self.key_for(plain.digest, keep_setuid), diff_id=plain.digest,
            size_bytes=report.bytes_written, entries=report.entries, created_at=time.time(),
            stripped_setuid=tuple(report.stripped_setuid[:1000]),
            skipped=tuple(report.skipped[:1000]),
        )

    def _publish(self, staging: Path, record: LayerRecord) -> tuple[LayerRecord, bool]:
        """Rename into place; a layer someone else stored meanwhile wins."""
        private.write(staging / "layer.json", record.model_dump_json(indent=1))
        final = self.root / record.key
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        if (final / "layer.json").exists():
            return self.record(record.key) or record, True
        shutil.rmtree(final, ignore_errors=True)  # a half-removed leftover
        os.rename(staging, final)
        return record, False

    def remove(self, key: str) -> int:
        """Delete a layer; it first leaves the store by rename, so nobody sees half of it."""
        record = self.record(key)
        source = self.root / key
        if not source.exists():
            return 0
        self.tmp.mkdir(mode=0o700, parents=True, exist_ok=True)
        doomed = self.tmp / f"removing-{uuid.uuid4().hex}"
        os.rename(source, doomed)
        shutil.rmtree(doomed, ignore_errors=True)
        return record.size_bytes if record else 0

    def clear_tmp(self) -> None:
        """Leftovers of interrupted imports; only call while holding the store lock."""
        if self.tmp.exists():
            for leftover in self.tmp.iterdir():
                with contextlib.suppress(OSError):
                    if leftover.is_dir() and not leftover.is_symlink():
                        shutil.rmtree(leftover)
                    else:
                        leftover.unlink()


def _verify(what: str, expected: str | None, actual: str) -> None:
    if expected is not None and expected != actual:
        raise ImageError(f"{what} digest mismatch: the manifest says {expected}, "
                         f"the content is {actual}")
