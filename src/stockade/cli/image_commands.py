"""`stockade image ...`: import, list, inspect, remove, collect garbage, build the base."""

from argparse import Namespace
from pathlib import Path
from typing import TYPE_CHECKING

from stockade.cli import render, session
from stockade.sizes import human_size as _size

if TYPE_CHECKING:
    from stockade.client import Client


def _engine(args: Namespace) -> "Client":
    return session.open_client(args.options)


def import_(args: Namespace) -> None:
    """Import an image; layers are verified, unpacked safely and shared."""
    from stockade.cli.progress_view import RichProgress  # rich: only progress bars pay

    engine = _engine(args)
    with RichProgress(enabled=not args.quiet and not args.json) as progress:
        image = engine.import_image(Path(args.path), args.name, args.keep_setuid, progress)
    if args.json:
        render.emit_json(image)
        return
    print(f"{image.name} {image.digest} ({len(image.layers)} layers, "
          f"{_size(image.size_bytes)})")
    for note in image.notes[:20]:
        print(f"  note: {note}")


def ls(args: Namespace) -> None:
    """List images with their size, layers and the containers using them."""
    from stockade.cli import template

    if args.format is not None:
        template.parse(args.format)  # refused before the daemon is asked
    items = _engine(args).list_images()
    if args.format is not None:
        template.print_formatted(args.format, [image.model_dump(mode="json") | {"in_use": users}
                                               for image, users in items])
        return
    if args.json:
        render.emit_json([image.model_dump(mode="json") | {"in_use": users}
                          for image, users in items])
        return
    render.print_table(render.images_table(items), args.no_trunc)


def inspect(args: Namespace) -> None:
    """Show one image: config, layers and, for the base image, its packages."""
    engine = _engine(args)
    image = engine.image(args.name)
    users = engine.image_users().get(args.name, [])
    if args.json:
        render.emit_json(image.model_dump(mode="json") | {"in_use": users})
        return
    render.print_image(image, users, args.no_trunc)


def rm(args: Namespace) -> None:
    """Remove images (refused while a container uses one) and their unshared layers."""
    engine = _engine(args)
    for name in args.names:
        report = engine.remove_image(name)
        print(f"{name} removed; {len(report.removed_layers)} layers freed "
              f"({_size(report.freed_bytes)})")


def gc(args: Namespace) -> None:
    """Remove layers no image references and no container runs on."""
    report = _engine(args).gc_images()
    if args.json:
        render.emit_json(report)
        return
    print(f"{len(report.removed_layers)} layers removed, {report.freed_bytes} bytes freed")


def build_base(args: Namespace) -> None:
    """Build the hardened Debian base image with debootstrap (minbase)."""
    from stockade.cli.progress_view import RichProgress  # rich: only progress bars pay

    engine = _engine(args)
    with RichProgress(enabled=not args.quiet and not args.json) as progress:
        image = engine.build_base_image(args.name, progress)
    if args.json:
        render.emit_json(image)
        return
    print(f"{image.name} {image.digest} ({len(image.packages)} packages, "
          f"{_size(image.size_bytes)})")
