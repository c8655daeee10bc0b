"""The command line: presentation only; all work is the engine's."""
