"""Probe what the kernel offers, once, into a HostFeatures value."""

from stockade.host.features import HostFeatures, Mechanism
from stockade.host.probe import probe

__all__ = ["HostFeatures", "Mechanism", "probe"]
