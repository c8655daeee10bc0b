"""`--format` templates and `ps --filter`: what they print, what they refuse, and that no
input makes them do anything but print or refuse in one line."""

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stockade.cli import filters, template
from stockade.errors import InvalidSpec

ITEM = {"handle": "web-1", "state": "running", "limits": {"pids": 64, "memory_bytes": 1024},
        "ports": [{"host_port": 8080}], "pid": None, "oom_killed": False,
        "properties": {"tier": "front"}}

_names = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True)
_scalars = st.one_of(st.text(max_size=10), st.integers(), st.none(), st.booleans())
_text = st.text(alphabet=st.characters(blacklist_characters="{}\\"), max_size=30)


@pytest.mark.parametrize(("text", "expected"), [
    ("{{.handle}}", "web-1"),
    ("{{.Handle}} {{.STATE}}", "web-1 running"),  # docker's capitals find our names
    ("{{ .limits.pids }}/{{.limits.memory_bytes}}", "64/1024"),
    ("{{.pid}}|{{.oom_killed}}", "|false"),
    ("{{json .ports}}", '[{"host_port": 8080}]'),
    ("{{.properties}}", '{"tier": "front"}'),
    ("{{.handle}}\\t{{.state}}", "web-1\trunning"),
    ("plain", "plain"),
])
def test_lookups_render_the_items_fields(text: str, expected: str) -> None:
    assert template.parse(text).render(ITEM) == expected


def test_json_dot_is_the_whole_item() -> None:
    assert json.loads(template.parse("{{json .}}").render(ITEM)) == ITEM


def test_table_prefix_adds_a_header_and_aligns() -> None:
    rows = [{"handle": "a", "state": "running"}, {"handle": "long-name", "state": "stopped"}]
    lines = template.parse("table {{.handle}}  {{.state}}").render_all(rows)
    assert lines == ["HANDLE     STATE", "a          running", "long-name  stopped"]
    tabbed = template.parse("table {{.handle}}\\t{{.state}}").render_all(rows)
    assert tabbed == ["HANDLE      STATE", "a           running", "long-name   stopped"]


@pytest.mark.parametrize("text", [
    "{{.nope}}", "{{.handle.x}}", "{{call .x}}", "{{.handle | printf}}", "{{index . 1}}",
    "{{", "a}}", "{{.handle}", "{{}}", "{{json}}", "{{json . .}}", "{{.a..b}}",
    "{{range .ports}}{{end}}", "{{template \"x\"}}",
])
def test_anything_but_a_lookup_is_refused_in_one_line(text: str) -> None:
    with pytest.raises(InvalidSpec) as refused:
        template.parse(text).render(ITEM)
    assert "\n" not in str(refused.value)


@given(_text.filter(lambda t: not t.startswith("table")))
def test_text_without_actions_prints_as_written(text: str) -> None:
    assert template.parse(text).render(ITEM) == text


@given(st.dictionaries(_names, _scalars, min_size=1), st.data())
def test_a_lookup_prints_the_value_and_nothing_else(item: dict[str, Any],
                                                    data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(item)))
    value = item[name]
    shown = template.parse(f"<{{{{.{name}}}}}>").render(item)
    expected = ("" if value is None else ("true" if value else "false")
                if isinstance(value, bool) else str(value))
    # a name that differs only in case from another is looked up exactly
    assert shown == f"<{expected}>"


@given(st.text(max_size=40))
def test_any_template_renders_or_is_refused(text: str) -> None:
    try:
        rendered = template.parse(text).render_all([ITEM])
    except InvalidSpec as exc:
        assert "\n" not in str(exc)
    else:
        assert isinstance(rendered, list)


@pytest.mark.parametrize(("flags", "handles"), [
    ([], ["web-1", "web-2", "db"]),
    (["name=web"], ["web-1", "web-2"]),
    (["name=web-1", "name=db"], ["web-1", "db"]),  # the same key: either
    (["name=web", "status=stopped"], ["web-2"]),  # different keys: both
    (["status=exited"], ["web-2"]),
    (["label=tier"], ["web-1", "web-2"]),
    (["label=tier=back"], ["web-2"]),
    (["label=tier=back", "label=role"], ["web-2", "db"]),
])
def test_filters_match_as_docker_does(flags: list[str], handles: list[str]) -> None:
    items = [{"handle": "web-1", "state": "running", "properties": {"tier": "front"}},
             {"handle": "web-2", "state": "stopped", "properties": {"tier": "back"}},
             {"handle": "db", "state": "created", "properties": {"role": "db"}}]
    wanted = filters.parse(flags)
    assert [i["handle"] for i in items if filters.matches(i, wanted)] == handles


@pytest.mark.parametrize("flag", ["name", "name=", "colour=red", "status=dead", "=x"])
def test_bad_filters_are_refused_in_one_line(flag: str) -> None:
    with pytest.raises(InvalidSpec) as refused:
        filters.parse([flag])
    assert "\n" not in str(refused.value)


@given(st.lists(st.text(max_size=20), max_size=4))
def test_any_filter_flags_parse_or_are_refused(flags: list[str]) -> None:
    try:
        wanted = filters.parse(flags)
    except InvalidSpec:
        return
    assert set(wanted) <= set(filters.KEYS)
    filters.matches(ITEM, wanted)
