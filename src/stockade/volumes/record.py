"""What a container's writable layer is made of, written before any of it exists.

destroy reads it back, so a create that failed half-way is still taken apart fully."""

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from stockade.linux import private

BackendName = Literal["xfs", "btrfs", "loop"]
RECORD = "volume.json"


class VolumeRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    backend: BackendName
    disk_bytes: int
    writable: Path  # holds upper/ and work/
    image: Path | None = None  # loop: the filesystem image file
    project_id: int | None = None  # xfs: the project quota id


def save(directory: Path, record: VolumeRecord) -> None:
    private.write(directory / RECORD, record.model_dump_json())


def load(directory: Path) -> VolumeRecord | None:
    try:
        return VolumeRecord.model_validate_json((directory / RECORD).read_text())
    except FileNotFoundError:
        return None


def forget(directory: Path) -> None:
    (directory / RECORD).unlink(missing_ok=True)
