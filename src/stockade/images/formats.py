"""Understand OCI layouts and docker archives: which layers, which digests, which config."""

import hashlib
import json
import platform
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stockade.errors import ImageError
from stockade.images.layers import check_digest
from stockade.images.limits import UnpackLimits
from stockade.images.model import ImageConfig
from stockade.images.sources import Source, read_small

_INDEX_TYPES = ("application/vnd.oci.image.index.v1+json",
                "application/vnd.docker.distribution.manifest.list.v2+json")
_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}
_NAME_ANNOTATIONS = ("io.containerd.image.name", "org.opencontainers.image.ref.name")
_MAX_NESTING = 4


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class Platform(_Lenient):
    architecture: str = ""
    os: str = ""


class Descriptor(_Lenient):
    media_type: str = Field(default="", alias="mediaType")
    digest: str
    size: int = Field(default=0, ge=0)
    annotations: dict[str, str] | None = None
    platform: Platform | None = None
    urls: list[str] | None = None


class Index(_Lenient):
    manifests: list[Descriptor]


class Manifest(_Lenient):
    config: Descriptor
    layers: list[Descriptor]


class RunConfig(_Lenient):
    env: list[str] | None = Field(default=None, alias="Env")
    entrypoint: list[str] | None = Field(default=None, alias="Entrypoint")
    cmd: list[str] | None = Field(default=None, alias="Cmd")
    working_dir: str | None = Field(default=None, alias="WorkingDir")
    user: str | None = Field(default=None, alias="User")


class RootFsSection(_Lenient):
    type: str = "layers"
    diff_ids: list[str] = []


class ConfigBlob(_Lenient):
    config: RunConfig | None = None
    rootfs: RootFsSection = RootFsSection()


class DockerEntry(_Lenient):
    config: str = Field(alias="Config")
    repo_tags: list[str] | None = Field(default=None, alias="RepoTags")
    layers: list[str] = Field(alias="Layers")


@dataclass(frozen=True)
class LayerRef:
    """Where a layer's blob lives in the source and what its digests must be."""

    path: str
    size: int | None
    blob_digest: str | None
    diff_id: str | None


@dataclass(frozen=True)
class Plan:
    """Everything needed to import an image, read and verified before any layer is."""

    kind: str
    digest: str
    config: ImageConfig
    layers: tuple[LayerRef, ...]
    suggested_name: str | None


def detect(source: Source) -> str:
    if source.exists("oci-layout") and source.exists("index.json"):
        return "oci"
    if source.exists("manifest.json"):
        return "docker"
    return "rootfs"


def _parse(model: type[Any], data: bytes, what: str) -> Any:
    try:
        return model.model_validate(json.loads(data))
    except (ValueError, ValidationError) as exc:
        raise ImageError(f"{what} is not valid: {str(exc).splitlines()[0]}") from exc


def _blob_path(digest: str) -> str:
    algorithm, _, hexdigest = check_digest(digest).partition(":")
    return f"blobs/{algorithm}/{hexdigest}"


def _verified_blob(source: Source, descriptor: Descriptor, limits: UnpackLimits,
                   what: str) -> bytes:
    data = read_small(source, _blob_path(descriptor.digest), limits)
    actual = "sha256:" + hashlib.sha256(data).hexdigest()
    if actual != descriptor.digest:
        raise ImageError(f"{what} digest mismatch: expected {descriptor.digest}, "
                         f"the content is {actual}")
    return data


def run_config(blob: ConfigBlob) -> ImageConfig:
    section = blob.config or RunConfig()
    return ImageConfig(env=tuple(section.env or ()), entrypoint=tuple(section.entrypoint or ()),
                       cmd=tuple(section.cmd or ()), working_dir=section.working_dir or "/",
                       user=section.user or None)


def plan_oci(source: Source, limits: UnpackLimits) -> Plan:
    """index.json -> (nested indexes) -> the manifest for this host -> config and layers."""
    index = _parse(Index, read_small(source, "index.json", limits), "index.json")
    descriptor = _choose(index.manifests, "index.json")
    for _ in range(_MAX_NESTING):
        data = _verified_blob(source, descriptor, limits, "manifest")
        if descriptor.media_type not in _INDEX_TYPES and b'"manifests"' not in data:
            break
        nested = _parse(Index, data, f"index {descriptor.digest}")
        descriptor = _choose(nested.manifests, f"index {descriptor.digest}")
    else:
        raise ImageError("image indexes are nested too deeply")
    manifest = _parse(Manifest, data, f"manifest {descriptor.digest}")
    config = _parse(ConfigBlob, _verified_blob(source, manifest.config, limits, "config"),
                    "image config")
    diff_ids = config.rootfs.diff_ids
    if len(diff_ids) != len(manifest.layers):
        raise ImageError(f"config lists {len(diff_ids)} diff ids for "
                         f"{len(manifest.layers)} layers")
    layers = []
    for layer, diff_id in zip(manifest.layers, diff_ids, strict=True):
        if layer.urls:
            raise ImageError(f"layer {layer.digest} is a foreign layer not in the archive")
        layers.append(LayerRef(_blob_path(layer.digest), layer.size, layer.digest,
                               check_digest(diff_id)))
    return Plan("oci", descriptor.digest, run_config(config), tuple(layers),
                _annotated_name(index.manifests[0] if len(index.manifests) == 1 else descriptor))


def _choose(manifests: list[Descriptor], where: str) -> Descriptor:
    """The only manifest, or the one for this host's linux architecture."""
    if not manifests:
        raise ImageError(f"{where} lists no manifests")
    if len(manifests) == 1:
        return manifests[0]
    arch = _ARCH.get(platform.machine(), platform.machine())
    for item in manifests:
        if item.platform and item.platform.os == "linux" and item.platform.architecture == arch:
            return item
    raise ImageError(f"{where} has {len(manifests)} manifests and none for linux/{arch}")


def _annotated_name(descriptor: Descriptor) -> str | None:
    notes = descriptor.annotations or {}
    for key in _NAME_ANNOTATIONS:
        if notes.get(key):
            return notes[key]
    return None


def plan_docker(source: Source, limits: UnpackLimits) -> Plan:
    """manifest.json (docker save) -> config file -> layer tars checked against diff ids."""
    raw = json.loads(read_small(source, "manifest.json", limits) or b"null")
    if not isinstance(raw, list) or not raw:
        raise ImageError("manifest.json must be a non-empty list")
    entry = _parse(DockerEntry, json.dumps(raw[0]).encode(), "manifest.json")
    data = read_small(source, entry.config, limits)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    _check_named_digest(entry.config, digest, "config")
    config = _parse(ConfigBlob, data, "image config")
    diff_ids = config.rootfs.diff_ids
    if len(diff_ids) != len(entry.layers):
        raise ImageError(f"config lists {len(diff_ids)} diff ids for {len(entry.layers)} layers")
    layers = tuple(LayerRef(path, None, _digest_in_name(path), check_digest(diff_id))
                   for path, diff_id in zip(entry.layers, diff_ids, strict=True))
    name = entry.repo_tags[0] if entry.repo_tags else None
    return Plan("docker-archive", digest, run_config(config), layers, name)


def _digest_in_name(path: str) -> str | None:
    """Newer docker saves layers as blobs/sha256/<hex>: the name is then a digest too."""
    parts = path.split("/")
    if len(parts) == 3 and parts[0] == "blobs" and parts[1] == "sha256":
        return check_digest("sha256:" + parts[2])
    return None


def _check_named_digest(path: str, actual: str, what: str) -> None:
    named = _digest_in_name(path)
    stem = path.rsplit("/", 1)[-1].removesuffix(".json")
    if named is None and len(stem) == 64:
        named = "sha256:" + stem
    if named is not None and named != actual:
        raise ImageError(f"{what} digest mismatch: {path} names {named}, the content is {actual}")
