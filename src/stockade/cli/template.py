"""`--format` templates in docker's `{{.Field}}` shape, interpreted here, never executed.

A template is text with actions in double braces. An action is a lookup in the item's JSON
(`{{.handle}}`, `{{.limits.memory_bytes}}`; a name matches exactly or else ignoring case,
so docker's `{{.State}}` works), `{{.}}` for the whole item, or `{{json .X}}` for the value
as JSON. Anything else is refused in one line. A `table ` prefix prints a header row of
the looked-up names and lines the columns up. `\\t` and `\\n` written in the flag become a
tab and a newline, as docker's do."""

import json
import re
from collections.abc import Sequence
from typing import Any, NamedTuple

from stockade.errors import InvalidSpec

_ACTION = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_PATH = re.compile(r"\.|(\.[A-Za-z_][A-Za-z0-9_]*)+")


class _Lookup(NamedTuple):
    path: tuple[str, ...]
    as_json: bool

    @property
    def header(self) -> str:
        return (self.path[-1] if self.path else "item").upper()


Part = str | _Lookup


class Template(NamedTuple):
    parts: tuple[Part, ...]
    table: bool = False

    def render(self, item: Any) -> str:
        return "".join(p if isinstance(p, str) else _value(item, p) for p in self.parts)

    def render_all(self, items: Sequence[Any]) -> list[str]:
        """One string per item; with `table`, a header first and the columns aligned."""
        if not self.table:
            return [self.render(item) for item in items]
        # docker's tabwriter turns a tab between columns into padding; so does this
        gaps = [p.replace("\t", "   ") if isinstance(p, str) else p for p in self.parts]
        rows = [[p if isinstance(p, str) else p.header for p in gaps]]
        rows += [[p if isinstance(p, str) else _value(item, p) for p in gaps]
                 for item in items]
        widths = [max(len(row[i]) for row in rows) for i in range(len(self.parts))]
        return ["".join(cell if isinstance(part, str) else cell.ljust(width)
                        for cell, part, width in zip(row, self.parts, widths, strict=True))
                .rstrip() for row in rows]


def parse(text: str) -> Template:
    """The template, or InvalidSpec naming the first action it cannot read."""
    table = text.startswith("table ") or text == "table"
    body = text[len("table"):].lstrip(" ") if table else text
    body = body.replace("\\t", "\t").replace("\\n", "\n")
    parts: list[Part] = []
    at = 0
    for match in _ACTION.finditer(body):
        parts.append(body[at:match.start()])
        parts.append(_action(match.group(1)))
        at = match.end()
    rest = body[at:]
    if "{{" in rest or "}}" in rest:
        raise InvalidSpec(f"--format: unbalanced braces in {text!r}")
    parts.append(rest)
    if any(isinstance(p, str) and "}}" in p for p in parts):
        raise InvalidSpec(f"--format: unbalanced braces in {text!r}")
    return Template(tuple(p for p in parts if p != ""), table)


def _action(source: str) -> _Lookup:
    words = source.split()
    as_json = words[:1] == ["json"]
    if as_json:
        words = words[1:]
    if len(words) != 1 or not _PATH.fullmatch(words[0]):
        raise InvalidSpec(f"--format: {{{{{source}}}}} is not a field: use {{{{.Name}}}}, "
                          "{{.A.B}}, {{.}} or {{json .Name}}")
    path = tuple(words[0].split(".")[1:]) if words[0] != "." else ()
    return _Lookup(path, as_json)


def _value(item: Any, lookup: _Lookup) -> str:
    value = item
    for name in lookup.path:
        if not isinstance(value, dict):
            raise InvalidSpec(f"--format: .{'.'.join(lookup.path)}: {name!r} is not a field "
                              "of a value that has none")
        value = value[_key(value, name)]
    if lookup.as_json:
        return json.dumps(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _key(mapping: dict[str, Any], name: str) -> str:
    if name in mapping:
        return name
    folded = [key for key in mapping if key.lower() == name.lower()]
    if len(folded) == 1:
        return folded[0]
    raise InvalidSpec(f"--format: no field {name!r}; fields: {', '.join(sorted(mapping))}")


def print_formatted(text: str, items: Sequence[Any]) -> None:
    """Each item (a model or its JSON) through the template, one per line."""
    template = parse(text)  # a bad template is refused before anything is printed
    rows = [item.model_dump(mode="json") if hasattr(item, "model_dump") else item
            for item in items]
    for line in template.render_all(rows):
        print(line)
