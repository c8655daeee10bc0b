"""Commands that show containers: ps, inspect, stats, top.

`ps` and `inspect` read the daemon's JSON as it comes (`JsonClient`): filters, templates,
tables and --json all work on ContainerInfo's fields, so they load no model, and `ps`
starts in the time of the transport, json and a table printer (docs/performance.md,
section 7)."""

from argparse import Namespace

from stockade.cli import render, session


def ps(args: Namespace) -> None:
    """List running containers (-a: all of them)."""
    from stockade.cli import filters, template

    wanted = filters.parse(args.filters or [])
    if args.format is not None:
        template.parse(args.format)  # refused before the daemon is asked
    if not args.all and "status" not in wanted:  # docker: a status filter shows what it names
        wanted["status"] = ("running",)
    items = [item for item in session.open_json(args.options).list_json()
             if filters.matches(item, wanted)]
    if args.quiet:
        print("".join(f"{item['handle']}\n" for item in items), end="")
    elif args.format is not None:
        template.print_formatted(args.format, items)
    elif args.json:
        render.emit_json(items)
    else:
        render.print_table(render.containers_table(items), args.no_trunc)


def inspect(args: Namespace) -> None:
    """Show one container."""
    if args.format is not None:
        from stockade.cli import template

        template.parse(args.format)
    info = session.open_json(args.options).inspect_json(args.handle)
    if args.format is not None:
        template.print_formatted(args.format, [info])
    elif args.json:
        render.emit_json(info)
    else:
        render.print_table(render.containers_table([info]), args.no_trunc)


def stats(args: Namespace) -> None:
    """Memory, CPU, disk and network use per container."""
    client = session.open_client(args.options)
    names = args.handles or [info["handle"] for info in client.list_json()]
    readings = [client.metrics(name) for name in names]
    if args.json:
        render.emit_json(readings)
        return
    render.print_table(render.metrics_table(readings), args.no_trunc)


def top(args: Namespace) -> None:
    """The container's processes: pid and user as it sees them, the host pid beside."""
    from stockade.cli.tables import Column, Sheet

    rows = session.open_json(args.options).top(args.handle)
    if args.json:
        render.emit_json(rows)
        return
    columns = (Column("PID", essential=True), Column("USER", priority=3),
               Column("HOST PID", priority=2), Column("STATE", priority=1),
               Column("RSS", priority=2), Column("COMMAND", essential=True))
    render.print_table(Sheet(columns, [
        (str(r["pid"]), str(r["uid"]), str(r["host_pid"]), r["state"],
         f"{r['rss_bytes'] / (1 << 20):.1f}M", r["command"])
        for r in rows]), False)
