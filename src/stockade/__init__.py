"""Stockade: a secure-by-default container platform on top of runc."""

__version__ = "0.1.0"
