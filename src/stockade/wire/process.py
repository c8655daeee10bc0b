"""What a caller may ask to run in a container, and what it is told about processes."""

from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from stockade.spec import ProcessSpec
from stockade.spec.validation import first_error
from stockade.wire.signals import signal_name

# setrlimit(2) resources by their lower-case names; runc takes them as RLIMIT_<NAME>.
RLIMIT_NAMES = frozenset({
    "as", "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile",
    "nproc", "rss", "rtprio", "rttime", "sigpending", "stack",
})
MAX_RLIMIT = (1 << 63) - 1  # runc stores them as uint64; beyond this is "unlimited" anyway
SignalName = Annotated[str, AfterValidator(signal_name)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Window(_Model):
    """A terminal's size in character cells."""

    rows: int = Field(ge=1, le=65535)
    cols: int = Field(ge=1, le=65535)


class ProcessRequest(_Model):
    """A process to run in a running container, hardened like its init."""

    args: list[str] = Field(min_length=1)
    env: dict[str, str] = {}
    user: str | None = None
    cwd: str | None = None
    tty: bool = False
    rlimits: dict[str, int] | None = None
    window: Window | None = None

    @field_validator("rlimits")
    @classmethod
    def _rlimits(cls, value: dict[str, int] | None) -> dict[str, int] | None:
        for name, limit in (value or {}).items():
            if name not in RLIMIT_NAMES:
                known = ", ".join(sorted(RLIMIT_NAMES))
                raise ValueError(f"unknown rlimit {name!r}; known: {known}")
            if not 0 <= limit <= MAX_RLIMIT:
                raise ValueError(f"rlimit {name} must be between 0 and {MAX_RLIMIT}")
        return value

    @model_validator(mode="after")
    def _as_container_process(self) -> "ProcessRequest":
        """The same rules as a container's own process (env names, NUL bytes, user, cwd)."""
        if self.window is not None and not self.tty:
            raise ValueError("a window size needs tty")
        try:
            spec = ProcessSpec(args=self.args, env=self.env, cwd=self.cwd, user=self.user,
                               terminal=self.tty)
        except ValidationError as exc:
            raise ValueError(first_error(exc.errors(), located="{message}")) from None
        self.cwd = spec.cwd  # normalised: no '.' or doubled slashes
        return self


class SignalRequest(_Model):
    """A signal for a container's processes or for one process; TERM unless named."""

    signal: SignalName = "TERM"


class ProcessInfo(_Model):
    """One process of a container; `init` is the container's main process."""

    id: str
    handle: str
    args: list[str]
    tty: bool = False
    running: bool
    exit_code: int | None = None
    started_at: float
    finished_at: float | None = None
