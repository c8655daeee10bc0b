"""Facts about one container that the engine resolves before policy runs."""

from pydantic import BaseModel, ConfigDict, Field

ID_MAP_SIZE = 65536


class IdMap(BaseModel):
    """Container ids 0..size-1 appear on the host as host_base..host_base+size-1."""

    model_config = ConfigDict(frozen=True)

    host_base: int = Field(ge=1)
    size: int = Field(default=ID_MAP_SIZE, ge=1)


class BundleContext(BaseModel):
    """Resolved inputs: where the rootfs is, who runs, what the image asked for."""

    model_config = ConfigDict(frozen=True)

    rootfs: str
    uid: int = Field(ge=0)
    gid: int = Field(ge=0)
    additional_gids: tuple[int, ...] = ()
    idmap: IdMap
    cgroup_parent: str = "stockade"
    image_env: tuple[str, ...] = ()
    cwd: str = "/"
    args: tuple[str, ...]
    helpers_dir: str
    top_level_dirs: tuple[str, ...] = ()
    extra_mounts: tuple[dict[str, object], ...] = ()
    # staged noexec copies of the writable rootfs directories (policy/noexec.py)
    noexec_dirs: tuple[tuple[str, str], ...] = ()
