"""Certificates and ports for tests of the daemon's TLS listener: a throwaway CA, a server
certificate for 127.0.0.1, and client certificates with the common names a test needs."""

import socket
import subprocess
from pathlib import Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def certificates(where: Path, clients: tuple[str, ...] = ("client",)) -> None:
    """ca.pem, server.pem/.key, and NAME.pem/.key for each client, all in `where`."""
    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=where)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "1", "-subj", "/CN=stockade test ca")
    for name, extra in (("server", "subjectAltName=IP:127.0.0.1"),
                        *((client, "") for client in clients)):
        run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
            f"{name}.csr", "-subj", f"/CN={name}")
        (where / f"{name}.ext").write_text(extra + "\n" if extra else "\n")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", f"{name}.pem", "-days", "1", "-extfile", f"{name}.ext")
