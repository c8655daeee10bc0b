"""Orchestrate spec, policy, images, volumes and runtime into a container lifecycle."""

from stockade.engine.config import EngineConfig
from stockade.engine.engine import Engine

__all__ = ["Engine", "EngineConfig"]
