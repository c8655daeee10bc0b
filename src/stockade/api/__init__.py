"""The HTTP API daemon: routes over a unix socket, streaming process I/O."""
