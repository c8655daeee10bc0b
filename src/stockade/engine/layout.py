"""Where each piece of engine state lives under the root directory."""

from dataclasses import dataclass
from pathlib import Path

from stockade.runtime.conmon import MonitorPaths


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

    def log_file(self, handle: str) -> Path:
        """The live k8s-file log conmon writes; rotated ones are ctr.log.1, .2, ..."""
        return self.container(handle) / "ctr.log"

    @property
    def exit_dir(self) -> Path:
        """conmon writes one file per ended container here, named by its handle."""
        return self.root / "exits"

    def monitor(self, handle: str) -> MonitorPaths:
        """The init's monitor: its files, its attach socket and fifos (in the bundle)."""
        return MonitorPaths(persist=self.container(handle) / "monitor",
                            bundle=self.bundle(handle), log=self.log_file(handle))

    def exec_sessions(self, handle: str) -> Path:
        return self.container(handle) / "exec"

    def exec_session(self, handle: str, session: str) -> MonitorPaths:
        """One exec'd process's monitor; everything of it lives in one directory."""
        directory = self.exec_sessions(handle) / session
        return MonitorPaths(persist=directory, bundle=directory, log=directory / "log")
