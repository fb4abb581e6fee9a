"""The runtime SDK directory: what goes in, built once, which interpreters get it."""

from __future__ import annotations

import importlib.metadata
import subprocess
from pathlib import Path

import pytest

from squall.engine.host import discover_interpreters
from squall.engine.runtime_sdk import SDK_DISTRIBUTIONS, _min_python, build_sdk


def test_min_python_parsing() -> None:
    assert _min_python(">= 3.10") == (3, 10)
    assert _min_python(">=2.7, !=3.0.*, !=3.1.*, !=3.2.*") == (3, 0)
    assert _min_python(">=3.9,<4") == (3, 9)
    assert _min_python(None) == (3, 0)


def test_build_once_with_only_the_sdk(tmp_path: Path) -> None:
    sdk = build_sdk(tmp_path)
    assert set(sdk.versions) == set(SDK_DISTRIBUTIONS)
    assert sdk.versions["boto3"] == importlib.metadata.version("boto3")
    names = {p.name for p in sdk.path.iterdir()}
    assert {"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six.py", "urllib3"} <= names
    assert any(n.startswith("boto3-") and n.endswith(".dist-info") for n in names)
    assert not list(sdk.path.rglob("__pycache__"))
    assert (sdk.path / "botocore" / "data" / "sts").is_dir()
    assert not any(n.startswith(("squall", "pytest", "requests")) for n in names)
    marker = sdk.path / ".complete"
    stamp = marker.stat().st_mtime_ns
    again = build_sdk(tmp_path)
    assert again.path == sdk.path and marker.stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == [sdk.path.name]  # no staging left behind
    assert sdk.supports("3.12") and sdk.supports(f"{sdk.min_python[0]}.{sdk.min_python[1]}")
    assert not sdk.supports(f"3.{sdk.min_python[1] - 1}")


def test_another_interpreter_imports_boto3_from_it(tmp_path: Path) -> None:
    sdk = build_sdk(tmp_path)
    found = [i for i in discover_interpreters() if i.version != "3.11" and sdk.supports(i.version)]
    if not found:
        pytest.skip("no other supported interpreter")
    code = f"import sys; sys.path.append({str(sdk.path)!r}); import boto3; print(boto3.__file__)"
    out = subprocess.run([found[0].path, "-I", "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().startswith(str(sdk.path))
