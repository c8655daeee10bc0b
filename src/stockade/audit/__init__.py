"""The append-only, hash-chained audit log and its verifier (docs/audit.md)."""

from stockade.audit.log import AuditLog
from stockade.audit.record import DAMAGE_ACTION, GENESIS, MAX_LINE_BYTES, AuditKind, AuditRecord
from stockade.audit.verify import Problem, ProblemKind, VerifyReport, verify_log

__all__ = ["DAMAGE_ACTION", "GENESIS", "MAX_LINE_BYTES", "AuditKind", "AuditLog", "AuditRecord",
           "Problem", "ProblemKind", "VerifyReport", "verify_log"]
