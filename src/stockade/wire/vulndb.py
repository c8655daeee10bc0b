"""Request and response bodies of the vulnerability database routes (`stockade vulndb`)."""

from pydantic import BaseModel, Field


class VulnDBUpdate(BaseModel):
    source: str = Field(min_length=1, max_length=4096,
                        description="An absolute path on the daemon's host, or an http(s) URL")


class VulnDBStatus(BaseModel):
    loaded: bool
    origin: str | None = None
    loaded_at: float | None = None
    feed_date: str | None = Field(None, description="The newest `modified` among the records")
    records: int = 0
    affected: int = 0
    ecosystems: dict[str, int] = Field(default_factory=dict)
