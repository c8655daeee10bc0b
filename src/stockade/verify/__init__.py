"""Proof, not promises: the in-container probe, the escape battery and the report."""

from stockade.verify.report import Report, print_report, to_json
from stockade.verify.runner import verify_container, verify_new

__all__ = ["Report", "print_report", "to_json", "verify_container", "verify_new"]
