"""Byte sizes as the spec reads and shows them; the functions live in `stockade.sizes`,
which the CLI imports without loading the models."""

from stockade.sizes import MAX_BYTES, format_size, human_size, parse_size

__all__ = ["MAX_BYTES", "format_size", "human_size", "parse_size"]
