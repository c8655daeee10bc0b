"""The image store: named images made of read-only layer directories."""

import fcntl
import hashlib
import json
import shutil
from pathlib import Path

from stockade.errors import NotFound
from stockade.images import embedded
from stockade.images.model import Image, ImageConfig
from stockade.images.ownership import shift_tree


class ImageStore:
    """Images live under `root`, one directory each, with a rootfs and image.json."""

    def __init__(self, root: Path, host_base: int, id_size: int) -> None:
        self.root = root
        self.host_base = host_base
        self.id_size = id_size

    def _dir(self, name: str) -> Path:
        return self.root / hashlib.sha256(name.encode()).hexdigest()[:32]

    def get(self, name: str) -> Image:
        """The image called `name`; the embedded one is built on first use."""
        meta = self._dir(name) / "image.json"
        if not meta.exists():
            if name != embedded.NAME:
                raise NotFound(f"no such image: {name}")
            self._build_embedded_once()
        return Image.model_validate_json(meta.read_text())

    def _build_embedded_once(self) -> None:
        """Concurrent first runs must not build into the same staging directory."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".build.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (self._dir(embedded.NAME) / "image.json").exists():
                self.build_embedded()

    def list(self) -> list[Image]:
        if not self.root.exists():
            return []
        found = [Image.model_validate_json(p.read_text()) for p in self.root.glob("*/image.json")]
        return sorted(found, key=lambda image: image.name)

    def build_embedded(self) -> Image:
        """Build the busybox image into a fresh directory, then publish it atomically."""
        final = self._dir(embedded.NAME)
        staging = final.with_name(final.name + ".staging")
        shutil.rmtree(staging, ignore_errors=True)
        rootfs = staging / "rootfs"
        rootfs.mkdir(parents=True)
        staging.chmod(0o711)
        embedded.build_rootfs(rootfs)
        shift_tree(rootfs, self.host_base, self.id_size)
        image = self._record(embedded.NAME, staging, final, embedded.CONFIG)
        shutil.rmtree(final, ignore_errors=True)
        staging.rename(final)
        return image

    def _record(self, name: str, staging: Path, final: Path, config: ImageConfig) -> Image:
        digest = hashlib.sha256((staging / "rootfs/bin/busybox").read_bytes()).hexdigest()
        size = sum(p.lstat().st_size for p in (staging / "rootfs").rglob("*"))
        image = Image(name=name, digest=f"sha256:{digest}", layers=(final / "rootfs",),
                      config=config, size_bytes=size)
        (staging / "image.json").write_text(json.dumps(image.model_dump(mode="json")))
        return image
