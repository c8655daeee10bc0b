"""Proof, not promises: the in-container probe, the escape battery and the verdict. The
report's model is on the wire (stockade.wire.verify); the CLI prints it."""

from stockade.verify.runner import verify_container, verify_new
from stockade.wire.verify import Report

__all__ = ["Report", "verify_container", "verify_new"]
