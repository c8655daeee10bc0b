"""The stockade-oci executable: runc's command line with stockade's hardening.

Every command but create, run and exec is decided from argv alone and replaced by runc
at once (os.execv), so an orchestrator's many state, kill and delete calls cost one
interpreter start and nothing more: keep the imports here to os and sys. (delete first
looks for the container's directory under /run/stockade-oci: one stat.)
"""

import os
import sys

from stockade import __version__
from stockade.oci.argv import REWRITTEN, command_index
from stockade.oci.runc import NoRunc, find_runc


def main() -> None:
    argv = sys.argv[1:]
    index = command_index(argv)
    command = argv[index] if index < len(argv) else None
    if command in REWRITTEN:
        from stockade.oci.hardened import run_hardened

        sys.exit(run_hardened(argv, index))
    if command == "delete":
        from stockade.oci.delete import delete_main

        delete_main(argv, index)
    try:
        runc = find_runc()
    except NoRunc as err:
        sys.stderr.write(f"stockade-oci: {err}\n")
        sys.exit(127)
    if command is None and any(arg in ("--version", "-version", "-v") for arg in argv):
        sys.stdout.write(f"stockade-oci version {__version__}\n")
        sys.stdout.flush()
    os.execv(runc, [runc, *argv])


if __name__ == "__main__":
    main()
