"""Where each piece of engine state lives under the root directory."""

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def database(self) -> Path:
        return self.root / "state.db"

    @property
    def images(self) -> Path:
        return self.root / "images"

    @property
    def containers(self) -> Path:
        return self.root / "containers"

    @property
    def helpers(self) -> Path:
        """The static init and probe, bind-mounted read-only into every container."""
        return self.root / "bin"

    @property
    def runc_root(self) -> Path:
        return self.root / "runc"

    @property
    def runc_log(self) -> Path:
        return self.root / "runc.log"

    def container(self, handle: str) -> Path:
        return self.containers / handle

    @property
    def bind_staging(self) -> Path:
        """Bind sources as resolved, attached here only while `runc create` runs."""
        return self.root / "binds"

    def binds(self, handle: str) -> Path:
        return self.bind_staging / handle

    @property
    def audit_log(self) -> Path:
        """The hash-chained audit log; its anchor (audit.head) sits beside it."""
        return self.root / "audit" / "audit.jsonl"

    @property
    def network_log(self) -> Path:
        return self.root / "network-log.jsonl"

    @property
    def vulndb(self) -> Path:
        """The offline vulnerability database (OSV records), replaced whole by each update."""
        return self.root / "vulndb.sqlite"

    def network_files(self, handle: str) -> Path:
        return self.container(handle) / "net"

    def bundle(self, handle: str) -> Path:
        return self.container(handle) / "bundle"

    def stdout_log(self, handle: str) -> Path:
        return self.container(handle) / "stdout.log"

    def stderr_log(self, handle: str) -> Path:
        return self.container(handle) / "stderr.log"

    def log_file(self, handle: str) -> Path:
        """conmon's log of the container's stdout and stderr (k8s-file); rotated files are
        `ctr.log.1` (newer) and up."""
        return self.container(handle) / "ctr.log"

    def exit_file(self, handle: str) -> Path:
        return self.container(handle) / "exit.json"

    def events_file(self, handle: str) -> Path:
        return self.container(handle) / "events.jsonl"
