"""Import time of a locally generated 100 MiB image, and writable-layer creation per backend.

Run as root from the checkout: `PYTHONPATH=src python -m bench.images`."""

import gzip
import hashlib
import io
import json
import os
import shutil
import statistics
import tarfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import zstandard

from stockade.images import ImageStore
from stockade.volumes import VolumeConfig, Volumes
from stockade.volumes.probe import choose

MIB = 1 << 20
IMAGE_BYTES = 100 * MIB
LAYERS = 4
FILE_BYTES = 256 << 10
ID_BASE = 1_000_000
ROUNDS = 5


def _layer(index: int, size: int) -> bytes:
    """Files of half random, half repetitive bytes: compressible like real binaries."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for number in range(size // FILE_BYTES):
            data = os.urandom(FILE_BYTES // 2) + bytes(FILE_BYTES // 2)
            info = tarfile.TarInfo(f"data/l{index}/f{number:05d}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def write_layout(target: Path, compression: str) -> None:
    """An OCI layout of LAYERS layers adding up to IMAGE_BYTES of file content."""
    blobs = target / "blobs/sha256"
    blobs.mkdir(parents=True)
    layers, diff_ids = [], []
    for index in range(LAYERS):
        plain = _layer(index, IMAGE_BYTES // LAYERS)
        blob = gzip.compress(plain, 1) if compression == "gzip" else \
            zstandard.ZstdCompressor().compress(plain)
        (blobs / _digest(blob)[7:]).write_bytes(blob)
        layers.append({"mediaType": f"application/vnd.oci.image.layer.v1.tar+{compression}",
                       "digest": _digest(blob), "size": len(blob)})
        diff_ids.append(_digest(plain))
    config = json.dumps({"rootfs": {"type": "layers", "diff_ids": diff_ids},
                         "config": {"Cmd": ["sh"]}}).encode()
    (blobs / _digest(config)[7:]).write_bytes(config)
    manifest = json.dumps({"schemaVersion": 2, "config": {"digest": _digest(config),
                                                          "size": len(config)},
                           "layers": layers}).encode()
    (blobs / _digest(manifest)[7:]).write_bytes(manifest)
    (target / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (target / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"digest": _digest(manifest), "size": len(manifest)}]}))


@contextmanager
def scratch() -> Iterator[Path]:
    root = Path(f"/tmp/stockade-bench-{uuid.uuid4().hex[:10]}")
    root.mkdir(mode=0o711)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def bench_import(compression: str) -> None:
    with scratch() as root:
        write_layout(root / "oci", compression)
        store = ImageStore(root / "images", ID_BASE, 65536)
        started = time.perf_counter()
        image = store.import_path(root / "oci", name="bench")
        took = time.perf_counter() - started
        print(f"import 100 MiB OCI layout ({LAYERS} {compression} layers): {took:.2f} s "
              f"({image.size_bytes / MIB / took:.0f} MiB/s)")


def bench_writable(backend: str) -> None:
    """The first create pays for any shared store; later ones run while it is mounted."""
    with scratch() as root:
        store = ImageStore(root / "images", ID_BASE, 65536)
        layers = store.get("busybox").layers
        volumes = Volumes(VolumeConfig(root=root, backend=backend))  # type: ignore[arg-type]
        creates, destroys = [], []
        try:
            for number in range(ROUNDS + 1):
                directory = root / f"c{number}"
                directory.mkdir()
                started = time.perf_counter()
                volumes.create(directory, layers, ID_BASE, 1 << 30)
                creates.append(time.perf_counter() - started)
                if number == 0:
                    continue  # the first stays, as other containers would in real use
                started = time.perf_counter()
                volumes.destroy(directory)
                destroys.append(time.perf_counter() - started)
        finally:
            volumes.destroy(root / "c0")
            volumes.cleanup(set())
        print(f"writable layer {backend:5s}: first create {creates[0] * 1000:.0f} ms, then "
              f"median create {statistics.median(creates[1:]) * 1000:.0f} ms, "
              f"destroy {statistics.median(destroys) * 1000:.0f} ms (1 GiB quota)")


def main() -> None:
    if os.geteuid() != 0:
        raise SystemExit("run as root: the store shifts ownership and mounts")
    for compression in ("gzip", "zstd"):
        bench_import(compression)
    for candidate in choose(Path("/tmp")).candidates:
        if candidate.available:
            bench_writable(candidate.name)
        else:
            print(f"writable layer {candidate.name:5s}: unavailable ({candidate.detail})")


if __name__ == "__main__":
    main()
