"""The settings loader: file, environment and flags in order of strength, each value's
source, one-line errors, and `config show` output that reads back as the same settings."""

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stockade import settings
from stockade.cli.config_cli import toml_lines
from stockade.errors import InvalidSpec

NO_FILE = Path("/nonexistent/stockade.toml")

parents = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,20}", fullmatch=True)


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "stockade.toml"
    path.write_text(text)
    return path


@given(file_value=st.none() | parents, env_value=st.none() | parents,
       flag_value=st.none() | parents)
def test_the_strongest_given_layer_wins_and_is_named(
        tmp_path_factory: pytest.TempPathFactory, file_value: str | None,
        env_value: str | None, flag_value: str | None) -> None:
    directory = tmp_path_factory.mktemp("s")
    text = f'[engine]\ncgroup_parent = "{file_value}"\n' if file_value else ""
    path = _file(directory, text)
    environ = {"STOCKADE_CGROUP_PARENT": env_value} if env_value else {}
    flags = {"engine.cgroup_parent": flag_value}
    loaded = settings.load(path, environ, flags)
    expected, source = next(
        ((v, s) for v, s in ((flag_value, "flag"), (env_value, "env STOCKADE_CGROUP_PARENT"),
                             (file_value, f"file {path}")) if v is not None),
        ("stockade", "default"))
    assert loaded.config.engine.cgroup_parent == expected
    assert dict((k, s) for k, _, s in loaded.rows())["engine.cgroup_parent"] == source


def test_every_environment_variable_reaches_its_setting(tmp_path: Path) -> None:
    network = tmp_path / "net.json"
    network.write_text(json.dumps({"bridge": "stktest", "table": "stockade_t"}))
    environ = {"STOCKADE_SOCKET": "/run/x.sock", "STOCKADE_LOG_LEVEL": "debug",
               "STOCKADE_LOG_FORMAT": "json", "STOCKADE_ROOT": "/srv/r",
               "STOCKADE_ID_BASE": "2000000", "STOCKADE_CGROUP_PARENT": "p",
               "STOCKADE_BIND_ALLOWLIST": "/srv/a:/srv/b", "STOCKADE_RUNC": "/usr/bin/runc",
               "STOCKADE_QUOTA_BACKEND": "loop", "STOCKADE_NETWORK_CONFIG": str(network)}
    assert set(environ) == set(settings.ENVIRONMENT)
    loaded = settings.load(None, environ)
    config = loaded.config
    assert (str(config.socket), config.log_level, config.log_format) == \
        ("/run/x.sock", "debug", "json")
    engine = config.engine
    assert (str(engine.root), engine.id_base, engine.cgroup_parent, engine.runc_binary,
            engine.quota_backend) == ("/srv/r", 2000000, "p", "/usr/bin/runc", "loop")
    assert [str(p) for p in engine.bind_allowlist] == ["/srv/a", "/srv/b"]
    assert engine.network.bridge == "stktest"
    sources = dict((k, s) for k, _, s in loaded.rows())
    # a table given whole names its variable for every key under it, defaults included
    assert sources["engine.network.bridge"] == "env STOCKADE_NETWORK_CONFIG"
    assert sources["engine.id_base"] == "env STOCKADE_ID_BASE"


def test_a_named_file_must_exist_and_the_default_one_may_not() -> None:
    with pytest.raises(InvalidSpec, match="cannot read settings file"):
        settings.load(NO_FILE, {})
    loaded = settings.load(None, {})
    assert loaded.file == (settings.DEFAULT_FILE if settings.DEFAULT_FILE.exists() else None)


def test_the_file_named_in_the_environment_is_read(tmp_path: Path) -> None:
    path = _file(tmp_path, 'log_level = "warning"\n')
    loaded = settings.load(None, {"STOCKADE_CONFIG": str(path)})
    assert loaded.file == path and loaded.config.log_level == "warning"


@pytest.mark.parametrize(("text", "environ", "message"), [
    ("[engine]\nid_base = 5\n", {}, "invalid setting engine.id_base (from file "),
    ("", {"STOCKADE_ID_BASE": "many"}, "invalid setting engine.id_base (from env "
                                       "STOCKADE_ID_BASE)"),
    ("[engine]\nroot_dir = \"/x\"\n", {}, "invalid setting engine.root_dir (from file "),
    ("log_level = 'loud'\n", {}, "invalid setting log_level (from file "),
    ("[tcp]\nport = 7443\ncertificate = 'c'\nkey = 'k'\n", {},
     "invalid setting tcp (from file "),
    ("engine = 3\n", {"STOCKADE_ROOT": "/r"}, "engine must be a table"),
    ("not toml [", {}, "cannot read settings file"),
])
def test_bad_settings_get_one_line_naming_key_and_source(
        tmp_path: Path, text: str, environ: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidSpec) as caught:
        settings.load(_file(tmp_path, text), environ)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_missing_network_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(InvalidSpec, match=r"cannot read /absent\.json"):
        settings.load(_file(tmp_path, ""), {"STOCKADE_NETWORK_CONFIG": "/absent.json"})


values = st.fixed_dictionaries({}, optional={
    "log_level": st.sampled_from(["debug", "info", "warning", "error"]),
    "max_body_bytes": st.integers(1024, 1 << 30),
    "engine.id_base": st.integers(65536, 1 << 30),
    "engine.cgroup_parent": parents,
    "engine.bind_allowlist": st.lists(st.from_regex(r"/[a-z]{1,8}", fullmatch=True),
                                      max_size=3),
    "engine.network.port_range": st.tuples(st.integers(1, 30000), st.integers(30000, 65535)),
})


@given(chosen=values)
def test_config_show_reads_back_as_the_same_settings(chosen: dict[str, Any]) -> None:
    loaded = settings.load(None, {}, flags=chosen)
    text = "\n".join(toml_lines(None, loaded.shown()["settings"]))
    reread: dict[str, Any] = tomllib.loads(text)
    flat = settings._leaves(reread)
    for key, value in chosen.items():
        assert flat[key] == (list(value) if isinstance(value, tuple) else value)
        assert "# flag" in next(line for line in text.splitlines()
                                 if line.startswith(f"{key} = "))
    again = settings.load(None, {}, flags=settings._leaves(reread))
    assert again.config == loaded.config
