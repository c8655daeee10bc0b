"""Build image archives for tests: layers, OCI layouts and docker archives, all local."""

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import zstandard

OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"


@dataclass
class Member:
    """One tar member to write: kind is file, dir, symlink, hardlink, char, block or fifo."""

    name: str
    kind: str = "file"
    data: bytes = b""
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    target: str = ""
    size: int | None = None  # lie about the size (hostile archives)


def layer_tar(members: list[Member]) -> bytes:
    """An uncompressed tar; tarfile is fine for *writing* test input."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for member in members:
            info = tarfile.TarInfo(member.name)
            info.mode, info.uid, info.gid, info.mtime = member.mode, member.uid, member.gid, 1
            kinds = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
                     "hardlink": tarfile.LNKTYPE, "char": tarfile.CHRTYPE,
                     "block": tarfile.BLKTYPE, "fifo": tarfile.FIFOTYPE}
            info.type = kinds[member.kind]
            info.linkname = member.target
            if member.kind in ("char", "block"):
                info.devmajor, info.devminor = 8, 0
            if member.kind == "file":
                info.size = len(member.data)
                archive.addfile(info, io.BytesIO(member.data))
            else:
                archive.addfile(info)
    return buffer.getvalue()


def compress(data: bytes, how: str) -> bytes:
    if how == "gzip":
        return gzip.compress(data, mtime=0)
    if how == "zstd":
        return zstandard.ZstdCompressor().compress(data)
    return data


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class ImageSpec:
    """Layers bottom first plus the config an image should carry."""

    layers: list[list[Member]]
    env: list[str] = field(default_factory=lambda: ["PATH=/usr/bin:/bin", "GREETING=hello"])
    cmd: list[str] = field(default_factory=lambda: ["sh", "-c", "echo default-cmd"])
    entrypoint: list[str] | None = None
    working_dir: str = "/app"
    user: str | None = None
    compression: str = "gzip"


def _config(spec: ImageSpec, diff_ids: list[str]) -> bytes:
    config: dict[str, object] = {"Env": spec.env, "Cmd": spec.cmd, "WorkingDir": spec.working_dir}
    if spec.entrypoint:
        config["Entrypoint"] = spec.entrypoint
    if spec.user:
        config["User"] = spec.user
    return json.dumps({"architecture": "amd64", "os": "linux", "config": config,
                       "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()


def write_oci_layout(spec: ImageSpec, target: Path, ref: str = "test/oci:1",
                     corrupt_layer: bool = False) -> Path:
    blobs = target / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    descriptors, diff_ids = [], []
    for members in spec.layers:
        plain = layer_tar(members)
        blob = compress(plain, spec.compression)
        diff_ids.append(sha(plain))
        digest = sha(blob)
        if corrupt_layer:
            blob = blob[:-1] + bytes([blob[-1] ^ 1])
        (blobs / digest[7:]).write_bytes(blob)
        suffix = {"gzip": "+gzip", "zstd": "+zstd"}.get(spec.compression, "")
        descriptors.append({"mediaType": OCI_LAYER + suffix, "digest": digest,
                            "size": len(blob)})
    config = _config(spec, diff_ids)
    (blobs / sha(config)[7:]).write_bytes(config)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST_TYPE,
                           "config": {"mediaType": CONFIG_TYPE, "digest": sha(config),
                                      "size": len(config)},
                           "layers": descriptors}).encode()
    (blobs / sha(manifest)[7:]).write_bytes(manifest)
    (target / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (target / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": MANIFEST_TYPE, "digest": sha(manifest), "size": len(manifest),
         "annotations": {"org.opencontainers.image.ref.name": ref}}]}))
    return target


def tar_directory(source: Path, target: Path) -> Path:
    """An OCI archive: the layout directory as a tar."""
    with tarfile.open(target, "w") as archive:
        for entry in sorted(source.iterdir()):
            archive.add(entry, arcname=entry.name)
    return target


def write_docker_archive(spec: ImageSpec, target: Path, tag: str = "test/docker:1",
                         wrong_diff_id: bool = False) -> Path:
    """What `docker save` writes: <id>/layer.tar, <config>.json, manifest.json."""
    files: dict[str, bytes] = {}
    layer_paths, diff_ids = [], []
    for index, members in enumerate(spec.layers):
        plain = layer_tar(members)
        diff_ids.append(sha(plain if not wrong_diff_id else plain + b"x"))
        path = f"{hashlib.sha256(str(index).encode()).hexdigest()}/layer.tar"
        files[path] = plain
        layer_paths.append(path)
    config = _config(spec, diff_ids)
    config_name = sha(config)[7:] + ".json"
    files[config_name] = config
    files["manifest.json"] = json.dumps([{"Config": config_name, "RepoTags": [tag],
                                          "Layers": layer_paths}]).encode()
    with tarfile.open(target, "w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return target


def sample_image(compression: str = "gzip") -> ImageSpec:
    """Busybox at the bottom, then a layer with the features imports must get right."""
    base = [Member("bin", "dir", mode=0o755), Member("bin/busybox", data=Path(
        "/usr/bin/busybox").read_bytes(), mode=0o755)]
    base += [Member(f"bin/{tool}", "symlink", target="busybox")
             for tool in ("sh", "ls", "cat", "stat", "id", "test", "find", "echo", "dd")]
    base += [Member("etc", "dir", mode=0o755),
             Member("etc/passwd", data=b"root:x:0:0:root:/root:/bin/sh\n"
                    b"vcap:x:2000:2000::/home/vcap:/bin/sh\napp:x:1234:1234::/app:/bin/sh\n"),
             Member("etc/group", data=b"root:x:0:\nvcap:x:2000:\napp:x:1234:\n"),
             Member("tmp", "dir", mode=0o1777),
             Member("app", "dir", mode=0o755, uid=1234, gid=1234),
             Member("app/gone.txt", data=b"deleted by the next layer\n"),
             Member("app/opaque", "dir", mode=0o755),
             Member("app/opaque/old.txt", data=b"hidden by an opaque whiteout\n"),
             Member("app/setuid-tool", data=b"#!/bin/sh\n", mode=0o4755),
             Member("app/keep.txt", data=b"kept\n", uid=1234, gid=1234)]
    top = [Member("app/.wh.gone.txt"),
           Member("app/opaque", "dir", mode=0o755),
           Member("app/opaque/.wh..wh..opq"),
           Member("app/opaque/new.txt", data=b"the only file here\n"),
           Member("app/data.txt", data=b"shared bytes\n", uid=1234, gid=1234),
           Member("app/data-link", "hardlink", target="app/data.txt"),
           Member("app/sym", "symlink", target="/app/data.txt"),
           Member("app/setgid-tool", data=b"#!/bin/sh\n", mode=0o2755)]
    return ImageSpec(layers=[base, top], compression=compression)
