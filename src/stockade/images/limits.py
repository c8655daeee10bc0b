"""Bounds on what one archive may make us write or hold in memory."""

from pydantic import BaseModel, ConfigDict, Field

GIB = 1 << 30


class UnpackLimits(BaseModel):
    """Anything past these is an absurd archive, not an image; tests lower them."""

    model_config = ConfigDict(frozen=True)

    max_file_bytes: int = Field(default=16 * GIB, gt=0)
    max_layer_bytes: int = Field(default=64 * GIB, gt=0)
    max_entries: int = Field(default=2_000_000, gt=0)
    max_path_bytes: int = Field(default=4096, gt=0)
    max_depth: int = Field(default=128, gt=0)
    max_header_bytes: int = Field(default=1 << 20, gt=0)  # pax records, GNU long names
    max_metadata_bytes: int = Field(default=4 << 20, gt=0)  # manifest, index, config JSON
