"""Import time of a locally generated 100 MiB image, and writable-layer creation per backend.

Run as root from the checkout: `PYTHONPATH=src python -m bench.images`."""

import gzip
import hashlib
import io
import json
import os
import shutil
import statistics
import subprocess
import tarfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import zstandard

from bench.model import Context, Row, SuiteResult
from bench.sandbox import sandbox
from stockade.images import ImageStore
from stockade.volumes import VolumeConfig, Volumes
from stockade.volumes.overlay import RootFs, mount_overlay, unmount_overlay
from stockade.volumes.probe import choose
from stockade.volumes.record import BackendName

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
def scratch(under: Path = Path("/tmp")) -> Iterator[Path]:
    root = under / f"stockade-bench-{uuid.uuid4().hex[:10]}"
    root.mkdir(mode=0o711)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def import_times(compression: str, rounds: int = 1,
                 under: Path = Path("/tmp")) -> tuple[list[float], int, list[float]]:
    """Seconds per import of one generated layout, each into a fresh store; its size; and
    the reference: GNU tar unpacking the same layer blobs (no checks, no id shifting)."""
    with scratch(under) as root:
        write_layout(root / "oci", compression)
        times, size, tar = [], 0, []
        for number in range(rounds):
            store = ImageStore(root / f"images{number}", ID_BASE, 65536)
            started = time.perf_counter()
            image = store.import_path(root / "oci", name="bench")
            times.append(time.perf_counter() - started)
            size = image.size_bytes
            shutil.rmtree(root / f"images{number}")
            tar.append(_tar_unpack(root / "oci", root / f"tar{number}"))
    return times, size, tar


def _tar_unpack(layout: Path, target: Path) -> float:
    index = json.loads((layout / "index.json").read_text())
    blobs = layout / "blobs/sha256"
    manifest = json.loads((blobs / index["manifests"][0]["digest"][7:]).read_text())
    target.mkdir()
    started = time.perf_counter()
    for layer in manifest["layers"]:  # tar recognises gzip and zstd by their magic bytes
        subprocess.run(["tar", "-xf", str(blobs / layer["digest"][7:]), "-C", str(target)],
                       check=True)
    took = time.perf_counter() - started
    shutil.rmtree(target)
    return took


def bench_import(compression: str) -> None:
    times, size, _ = import_times(compression)
    print(f"import 100 MiB OCI layout ({LAYERS} {compression} layers): {times[0]:.2f} s "
          f"({size / MIB / times[0]:.0f} MiB/s)")


def writable_times(backend: BackendName, under: Path = Path("/tmp"), rounds: int = ROUNDS,
                   ) -> tuple[float, list[float], list[float]]:
    """(first create, later creates, destroys) in seconds. The first create pays for any
    shared store; later ones run while it is mounted."""
    with scratch(under) as root:
        store = ImageStore(root / "images", ID_BASE, 65536)
        layers = store.get("busybox").layers
        volumes = Volumes(VolumeConfig(root=root, backend=backend))
        creates, destroys = [], []
        try:
            for number in range(rounds + 1):
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
    return creates[0], creates[1:], destroys


def bench_writable(backend: BackendName) -> None:
    first, creates, destroys = writable_times(backend)
    print(f"writable layer {backend:5s}: first create {first * 1000:.0f} ms, then "
          f"median create {statistics.median(creates) * 1000:.0f} ms, "
          f"destroy {statistics.median(destroys) * 1000:.0f} ms (1 GiB quota)")


# -- the suite, for `python -m bench` --------------------------------------------------------

NAME = "images"
TITLE = "Image import (100 MiB) and writable-layer creation per quota backend"


def overlay_times(under: Path, rounds: int) -> list[float]:
    """The reference for a writable layer: a bare overlay on the host filesystem, no quota."""
    with scratch(under) as root:
        lower = ImageStore(root / "images", ID_BASE, 65536).get("busybox").layers
        times = []
        for number in range(rounds):
            fs = RootFs(root / f"o{number}", root / f"o{number}")
            for part in (fs.upper, fs.work):
                part.mkdir(parents=True)
            started = time.perf_counter()
            mount_overlay(fs, lower)
            unmount_overlay(fs.directory)
            times.append(time.perf_counter() - started)
    return times


def run(ctx: Context) -> SuiteResult:
    rounds = ctx.rounds(3, 1)
    result = SuiteResult(NAME, TITLE, params={"import_rounds": rounds,
                                              "writable_rounds": ctx.rounds(ROUNDS, 3)})
    with sandbox(NAME, result.leftovers) as box:
        for compression in ("gzip", "zstd"):
            times, size, tar = import_times(compression, rounds, box.dir)
            tar_row = result.add(Row.of(f"tar -xf of the same {compression} layers", "s", tar))
            result.add(Row.of(f"import 100 MiB OCI layout, {LAYERS} {compression} layers", "s",
                              times).against("tar -xf", tar_row.value))
            result.notes.append(f"{compression}: {size / MIB / statistics.median(times):.0f} "
                                "MiB/s through digest checks, the safe unpacker and id shifting")
        _writable_rows(result, box.dir, ctx.rounds(ROUNDS, 3))
    result.series = {"import": {r.metric: r.value for r in result.rows if r.unit == "s"},
                     "writable": {r.metric: r.value for r in result.rows if r.unit == "ms"}}
    return result


def _writable_rows(result: SuiteResult, under: Path, rounds: int) -> None:
    reference = result.add(Row.of("bare overlay mount + unmount (no quota)", "ms",
                                  [t * 1000 for t in overlay_times(under, rounds)]))
    for candidate in choose(under).candidates:
        if not candidate.available:
            result.notes.append(f"writable layer {candidate.name}: unavailable "
                                f"({candidate.detail})")
            continue
        first, creates, destroys = writable_times(candidate.name, under, rounds)
        result.add(Row(metric=f"{candidate.name}: first create (sets up the store)", unit="ms",
                       value=first * 1000, samples=[first * 1000]))
        result.add(Row.of(f"{candidate.name}: create", "ms", [t * 1000 for t in creates]
                          ).against("bare overlay", reference.value))
        result.add(Row.of(f"{candidate.name}: destroy", "ms", [t * 1000 for t in destroys]))


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
