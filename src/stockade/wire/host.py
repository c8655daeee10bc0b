"""Request body of `POST /v1/host/harden` (`stockade host harden`)."""

from typing import Literal

from pydantic import BaseModel, ConfigDict


class HardenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["apply", "revert"] = "apply"
    dry_run: bool = False
