"""`stockade image ...`: import, list, inspect, remove, collect garbage, build the base."""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from stockade.cli import render
from stockade.cli.progress_view import RichProgress
from stockade.cli.session import Options, open_client

if TYPE_CHECKING:
    from stockade.client import Client

app = typer.Typer(no_args_is_help=True, help="Manage images.")
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")]


def _size(value: int) -> str:
    from stockade.spec import human_size  # with the answer's models, not at start-up

    return human_size(value)


def _engine(ctx: typer.Context) -> "Client":
    options: Options = ctx.obj
    return open_client(options)


@app.command("import")
def import_(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="OCI layout or archive, docker archive, "
                                               "or root filesystem tar or directory.")],
    name: Annotated[str | None, typer.Option("--name", help="Name to register.")] = None,
    keep_setuid: Annotated[bool, typer.Option("--keep-setuid",
                                              help="Keep setuid/setgid bits.")] = False,
    quiet: Quiet = False, json_: JsonFlag = False,
) -> None:
    """Import an image; layers are verified, unpacked safely and shared."""
    engine = _engine(ctx)
    with RichProgress(enabled=not quiet and not json_) as progress:
        image = engine.import_image(path, name, keep_setuid, progress)
    if json_:
        render.emit_json(image)
        return
    print(f"{image.name} {image.digest} ({len(image.layers)} layers, "
          f"{_size(image.size_bytes)})")
    for note in image.notes[:20]:
        print(f"  note: {note}")


@app.command("ls")
def ls(ctx: typer.Context, json_: JsonFlag = False, no_trunc: render.NoTrunc = False,
       format_: Annotated[str | None, typer.Option(
           "--format", metavar="TEMPLATE",
           help="Print each image through a template: {{.name}}, {{.size_bytes}}, "
           "{{json .in_use}}; a 'table ' prefix adds a header.")] = None) -> None:
    """List images with their size, layers and the containers using them."""
    from stockade.cli import template

    if format_ is not None:
        template.parse(format_)  # refused before the daemon is asked
    items = _engine(ctx).list_images()
    if format_ is not None:
        template.print_formatted(format_, [image.model_dump(mode="json") | {"in_use": users}
                                           for image, users in items])
        return
    if json_:
        render.emit_json([image.model_dump(mode="json") | {"in_use": users}
                          for image, users in items])
        return
    render.print_table(render.images_table(items), no_trunc)


@app.command("inspect")
def inspect(ctx: typer.Context, name: str, json_: JsonFlag = False,
            no_trunc: render.NoTrunc = False) -> None:
    """Show one image: config, layers and, for the base image, its packages."""
    engine = _engine(ctx)
    image = engine.image(name)
    users = engine.image_users().get(name, [])
    if json_:
        render.emit_json(image.model_dump(mode="json") | {"in_use": users})
        return
    render.print_image(image, users, no_trunc)


@app.command("rm")
def rm(ctx: typer.Context, names: list[str]) -> None:
    """Remove images (refused while a container uses one) and their unshared layers."""
    engine = _engine(ctx)
    for name in names:
        report = engine.remove_image(name)
        print(f"{name} removed; {len(report.removed_layers)} layers freed "
              f"({_size(report.freed_bytes)})")


@app.command("gc")
def gc(ctx: typer.Context, json_: JsonFlag = False) -> None:
    """Remove layers no image references and no container runs on."""
    report = _engine(ctx).gc_images()
    if json_:
        render.emit_json(report)
        return
    print(f"{len(report.removed_layers)} layers removed, {report.freed_bytes} bytes freed")


@app.command("build-base")
def build_base(
    ctx: typer.Context,
    name: Annotated[str, typer.Option("--name", help="Name to register.")] = "base",
    quiet: Quiet = False, json_: JsonFlag = False,
) -> None:
    """Build the hardened Debian base image with debootstrap (minbase)."""
    engine = _engine(ctx)
    with RichProgress(enabled=not quiet and not json_) as progress:
        image = engine.build_base_image(name, progress)
    if json_:
        render.emit_json(image)
        return
    print(f"{image.name} {image.digest} ({len(image.packages)} packages, "
          f"{_size(image.size_bytes)})")
