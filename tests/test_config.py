from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from squall.cli.main import cli, up
from squall.config import RootKey, SettingError, Settings, declared


def test_defaults() -> None:
    s = Settings.load(env={})
    assert (s.host, s.port, s.region) == ("127.0.0.1", 4566, "us-east-1")
    assert s.root_keys == (RootKey("test", "test", "000000000000"),)
    assert s.data_dir.parts[-3:] == ("share", "squall") or s.data_dir.name == "squall"
    assert s.endpoint == "http://localhost:4566"


def test_environment_then_flags() -> None:
    env = {
        "SQUALL_PORT": "5000",
        "SQUALL_DATA_DIR": "/tmp/sq",
        "SQUALL_ROOT_KEYS": "AK1:S1:111111111111, AK2:S2",
        "SQUALL_SYNC_MODE": "full",
        "SQUALL_BASE_HOSTS": "example.test",
        "SQUALL_BODY_TIMEOUT": "2.5",
    }
    s = Settings.load({"port": 6000, "host": None}, env=env)
    assert s.port == 6000  # the flag wins
    assert s.data_dir == Path("/tmp/sq")
    assert s.root_keys == (RootKey("AK1", "S1", "111111111111"), RootKey("AK2", "S2", "000000000000"))
    assert s.sync_mode == "FULL"
    assert s.base_hosts == ("example.test",)
    assert s.body_timeout == 2.5


@pytest.mark.parametrize("text", ["nokey", ":secret", "ak:", "ak:s:123", "ak:s:12345678901x", "a:b:c:d"])
def test_bad_root_keys_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        RootKey.parse(text)


def test_bad_sync_mode_is_refused() -> None:
    with pytest.raises(ValueError):
        Settings.load(env={"SQUALL_SYNC_MODE": "sometimes"})


def test_workers_default_to_one_process_per_core_up_to_four() -> None:
    import os

    from squall.config import AUTO_WORKERS_MAX, Settings

    assert Settings().workers == 0
    assert Settings().processes == max(1, min(os.cpu_count() or 1, AUTO_WORKERS_MAX))
    assert Settings.load(env={"SQUALL_WORKERS": "3"}).processes == 3
    assert Settings.load({"workers": 1}, env={}).processes == 1


# --- Settings from their declarations: one declaration per field gives its flag, variable, parser, help.

FIELDS = [f.name for f in dataclasses.fields(Settings)]
#: Flags whose name is not the field's in kebab case (kept from before the flags were generated).
RENAMED = {"root_keys": "--root-key"}

#: Per field: a text a flag or variable may hold, and the value it becomes.
GOOD: dict[str, tuple[str, Any]] = {
    "host": ("0.0.0.0", "0.0.0.0"),
    "port": ("5001", 5001),
    "data_dir": ("~/sq-data", Path("~/sq-data").expanduser()),
    "root_keys": (
        "AK1:S1:111111111111, AK2:S2",
        (RootKey("AK1", "S1", "111111111111"), RootKey("AK2", "S2")),
    ),
    "region": ("eu-west-1", "eu-west-1"),
    "max_body_bytes": ("1048576", 1048576),
    "body_timeout": ("2.5", 2.5),
    "header_timeout": ("1.5", 1.5),
    "keep_alive_timeout": ("7", 7),
    "clock_skew": ("60", 60.0),
    "sync_mode": ("full", "FULL"),
    "wal_limit": ("8388608", 8388608),
    "log_level": ("DEBUG", "debug"),
    "base_hosts": ("a.test, b.test,", ("a.test", "b.test")),
    "lambda_keep_alive": ("0.5", 0.5),
    "lambda_egress": ("OFF", "off"),
    "lambda_concurrency": ("5", 5),
    "lambda_scaling_rate": ("2", 2),
    "async_retry_base_seconds": ("0.1", 0.1),
    "async_concurrency": ("8", 8),
    "sns_delay_scale": ("0.05", 0.05),
    "lifecycle_day_seconds": ("1", 1.0),
    "dynamodb_ttl_interval": ("0.2", 0.2),
    "workers": ("3", 3),
    "worker_timeout": ("2.5", 2.5),
}

#: Per field with a type that can be wrong: a text it must refuse.
BAD: dict[str, str] = {
    "port": "abc",
    "data_dir": "/etc/passwd",  # a file, not a directory
    "root_keys": "nokey",
    "max_body_bytes": "1.5",
    "body_timeout": "soon",
    "header_timeout": "0",
    "keep_alive_timeout": "0.5",
    "clock_skew": "nan",
    "sync_mode": "sometimes",
    "wal_limit": "1000",  # under the 1 MiB minimum
    "log_level": "loud",
    "lambda_keep_alive": "-1",
    "lambda_egress": "maybe",
    "lambda_concurrency": "many",
    "lambda_scaling_rate": "-1",
    "async_retry_base_seconds": "x",
    "async_concurrency": "0",
    "sns_delay_scale": "fast",
    "lifecycle_day_seconds": "1d",
    "dynamodb_ttl_interval": "-0.5",
    "workers": "65",
    "worker_timeout": "0.1",
}


def _flag(name: str) -> str:
    return RENAMED.get(name, "--" + name.replace("_", "-"))


def _env(name: str) -> str:
    return "SQUALL_" + name.upper()


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[Settings]:
    """`squall up` builds its settings and hands them to serve(); capture them instead of serving."""
    import squall.server

    got: list[Settings] = []
    monkeypatch.setattr(squall.server, "serve", lambda settings, echo: got.append(settings))
    for name in FIELDS:
        monkeypatch.delenv(_env(name), raising=False)
    return got


def _run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, max_content_width=1000, terminal_width=1000)


def test_every_field_is_declared_with_a_flag_a_variable_and_help() -> None:
    specs = {s.name: s for s in declared()}
    assert list(specs) == FIELDS
    for name in FIELDS:
        assert specs[name].flag == _flag(name)
        assert specs[name].env == _env(name)
        assert specs[name].help.strip(), f"{name} has no help text"
    options = {p.name: p for p in up.params if isinstance(p, click.Option)}
    for name in FIELDS:
        assert name in options, f"squall up has no flag for {name}"
        assert _flag(name) in options[name].opts


def test_the_tables_here_cover_every_field() -> None:
    assert set(GOOD) == set(FIELDS)
    assert set(BAD) <= set(FIELDS)


@pytest.mark.parametrize("name", FIELDS)
def test_variable_conversion(name: str) -> None:
    text, expected = GOOD[name]
    value = getattr(Settings.load(env={_env(name): text}), name)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize("name", FIELDS)
def test_flag_conversion(name: str, served: list[Settings]) -> None:
    text, expected = GOOD[name]
    flag = _flag(name)
    args = (
        [a for key in text.split(",") if key.strip() for a in (flag, key.strip())]
        if name == "root_keys"
        else [flag, text]
    )
    result = _run("up", *args)
    assert result.exit_code == 0, result.output
    assert getattr(served[0], name) == expected


def test_root_key_flag_repeats_and_base_hosts_flag_is_comma_separated(served: list[Settings]) -> None:
    result = _run(
        "up", "--root-key", "A:B", "--root-key", "C:D:222222222222", "--base-hosts", "x.test,y.test"
    )
    assert result.exit_code == 0, result.output
    assert served[0].root_keys == (RootKey("A", "B"), RootKey("C", "D", "222222222222"))
    assert served[0].base_hosts == ("x.test", "y.test")


def test_unset_means_default(served: list[Settings]) -> None:
    result = _run("up", env={"SQUALL_PORT": ""})  # an empty variable is unset
    assert result.exit_code == 0, result.output
    assert served[0] == Settings()


@pytest.mark.parametrize("name", FIELDS)
def test_precedence_flag_then_variable_then_default(name: str, served: list[Settings]) -> None:
    text, expected = GOOD[name]
    default = getattr(Settings(), name)
    assert expected != default
    # the variable beats the default
    assert _run("up", env={_env(name): text}).exit_code == 0
    assert getattr(served[-1], name) == expected
    # the flag beats the variable: give the flag the default's text, the variable the other value
    spec = next(s for s in declared() if s.name == name)
    default_text = spec.default_text().split(",")[0] if spec.repeatable else spec.default_text()
    result = _run("up", spec.flag, default_text, env={_env(name): text})
    assert result.exit_code == 0, result.output
    assert getattr(served[-1], name) == default


def test_overrides_as_text_are_parsed_like_variables() -> None:
    s = Settings.load({"port": "7000", "base_hosts": "a,b", "root_keys": ["K:S"]}, env={"SQUALL_PORT": "1"})
    assert (s.port, s.base_hosts, s.root_keys) == (7000, ("a", "b"), (RootKey("K", "S"),))
    with pytest.raises(TypeError):
        Settings.load({"no_such_setting": 1}, env={})


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_variable_is_an_error_naming_the_variable(name: str, served: list[Settings]) -> None:
    with pytest.raises(SettingError, match=re.escape(_env(name))):
        Settings.load(env={_env(name): BAD[name]})
    result = _run("up", env={_env(name): BAD[name]})
    assert result.exit_code == 2
    assert isinstance(result.exception, SystemExit)  # click's usage error, not a traceback
    assert f"Invalid value for {_env(name)}" in result.output
    assert "Traceback" not in result.output
    assert not served


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_flag_is_clicks_invalid_value(name: str, served: list[Settings]) -> None:
    result = _run("up", _flag(name), BAD[name])
    assert result.exit_code == 2
    assert isinstance(result.exception, SystemExit)
    assert f"Invalid value for '{_flag(name)}'" in result.output
    assert not served


def test_other_commands_report_bad_variables_without_a_traceback(tmp_path: Path) -> None:
    result = _run("status", "--data-dir", str(tmp_path), env={"SQUALL_PORT": "abc"})
    assert result.exit_code == 2
    assert isinstance(result.exception, SystemExit)
    assert "Invalid value for SQUALL_PORT" in result.output


def test_up_help_lists_every_flag_variable_and_help_text() -> None:
    result = _run("up", "--help")
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    for spec in declared():
        assert re.search(rf"(^|\s){re.escape(spec.flag)}\s", result.output), spec.flag
        assert spec.env in text
        assert " ".join(spec.help.split()) in text
        assert f"default {spec.default_text()}" in text


def test_readme_lists_every_flag_and_variable() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    for spec in declared():
        assert f"| `{spec.flag}`" in readme and f"`{spec.env}`" in readme, spec.name
