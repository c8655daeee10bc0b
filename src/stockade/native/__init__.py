"""Small static C helpers that run inside containers: the init and the posture probe."""

from stockade.native.build import binary

__all__ = ["binary"]
