"""The daemon's watch over the host baseline (docs/host.md): the check at start with its
one-line summary, the re-check every `host_check_interval_s` that turns drift (a value that
passed and changed) into an event and an audit record, and `host harden`, audited change by
change.

Host events are not a container's: they carry the handle "" (no container can have it,
handles match HANDLE_PATTERN) and the local owner, so admins see them and developers do
not."""

import logging
import threading
from typing import TYPE_CHECKING, Any, Literal

from stockade.engine import hostcheck
from stockade.host import baseline, harden
from stockade.host.baseline import Report

if TYPE_CHECKING:
    from stockade.api.daemon import Daemon

log = logging.getLogger("stockade.daemon")
HOST_HANDLE = ""
DRIFT_EVENT = "host drift"


class HostWatch:
    def __init__(self, daemon: "Daemon") -> None:
        self.daemon = daemon
        self.report: Report | None = None
        self._lock = threading.Lock()  # guards `report`
        self._busy = threading.Lock()  # a re-check never sees a harden half-way as drift

    def check(self) -> Report:
        engine = self.daemon.engine
        report = hostcheck.check(engine.host, engine.layout, engine.config.id_base,
                                 self.daemon.config.host_containers)
        with self._lock:
            self.report = report
        return report

    def summary(self) -> str:
        with self._lock:
            return self.report.summary() if self.report else "host baseline not checked yet"

    def start(self) -> None:
        try:
            log.info("%s", self.check().summary())
        except Exception:  # the baseline informs; it must not keep the daemon from serving
            log.exception("host baseline check failed")

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(self.daemon.config.host_check_interval_s):
            try:
                self.recheck()
            except Exception:
                log.exception("host baseline re-check failed")

    def recheck(self) -> list[tuple[baseline.Item, baseline.Item]]:
        with self._busy:
            return self._recheck()

    def _recheck(self) -> list[tuple[baseline.Item, baseline.Item]]:
        with self._lock:
            before = self.report
        after = self.check()
        if before is None:
            return []
        changes = baseline.drifted(before, after)
        for old, new in changes:
            detail = (f"{old.name} changed from {old.evidence} ({old.status}) to "
                      f"{new.evidence} ({new.status}): {new.reason}")
            log.warning("host drift: %s", detail)
            self.daemon.engine.state.add_event(HOST_HANDLE, DRIFT_EVENT, detail)
            self.daemon.security("host drift", "host", {
                "item": old.name, "before": old.evidence, "after": new.evidence,
                "status": new.status})
        return changes

    def harden(self, action: Literal["apply", "revert"], dry_run: bool,
               actor: str) -> dict[str, Any]:
        state = self.daemon.engine.layout.root / harden.STATE_NAME
        dropin = self.daemon.config.host_sysctl_dropin
        with self._busy:  # one harden at a time, and no re-check in between
            if action == "apply":
                outcome = harden.apply(self.check(), state, dropin, dry_run)
            else:
                outcome = harden.revert(state, dropin, dry_run)
            if not dry_run:
                for change in outcome.changes:
                    self.daemon.security(f"host harden {action}", "host", {
                        "sysctl": change.name, "before": change.before,
                        "after": change.after, "dropin": str(dropin)}, actor)
                self.check()  # the values harden set are the baseline now, not drift
        return outcome.as_dict() | {"summary": self.summary()}
