"""The HTTP API: transport only; every decision is the engine's."""
