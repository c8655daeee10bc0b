"""`stockade verify`: prove every layer from inside a container; exit 1 if any fails."""

from argparse import Namespace

from stockade.cli import session


def verify(args: Namespace) -> int:
    """Prove every hardening layer from inside; exit 0 only if every check passes."""
    from stockade.cli import verify_report  # the report's model loads pydantic

    report = session.open_client(args.options).verify(args.handle, args.strict)
    if args.json:
        print(verify_report.to_json(report))
    else:
        verify_report.print_report(report, no_trunc=args.no_trunc)
    return 0 if report.passed else 1
