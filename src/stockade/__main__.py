"""`python -m stockade`: the command line (the detached daemon is started this way)."""

from stockade.cli.main import main

main()
