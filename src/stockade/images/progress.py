"""How long work reports its progress; the front door decides how to show it. The
protocol is part of the wire (the client reports a daemon's import the same way)."""

from stockade.wire.images import NoProgress, Progress

__all__ = ["NoProgress", "Progress"]
