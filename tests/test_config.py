from __future__ import annotations

from pathlib import Path

import pytest

from squall.config import RootKey, Settings


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
