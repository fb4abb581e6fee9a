"""The runtime SDK: boto3 and its dependencies, as Lambda's Python runtimes ship them.

``build_sdk(root)`` copies the installed distributions of ``SDK_DISTRIBUTIONS``
(found through ``importlib.metadata``: the files each one's RECORD lists,
inside its site-packages, bytecode caches left out, dist-info kept so
``importlib.metadata.version("boto3")`` works in a function) into
``root/<fingerprint>``, where the fingerprint names the exact versions. It is
built once (into a temporary sibling, then renamed: concurrent builders race
harmlessly) and reused by every server of that user and those versions. Every
zygote gets that directory appended to its ``sys.path``, so functions of every
Python runtime can ``import boto3``; the server's own interpreter finds its
site-packages first. Nothing here imports the SDK.

The default root is a cache directory outside ``/tmp`` on purpose: an EE in a
private mount namespace sees its own tmpfs at ``/tmp``, and botocore reads its
service models from disk lazily, after the fork.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

#: What Lambda's Python runtimes provide: boto3 and everything it needs (all pure Python).
SDK_DISTRIBUTIONS = ("boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3")
_COMPLETE = ".complete"


class SdkUnavailable(Exception):
    """A distribution of the SDK is not installed in the server's environment."""


@dataclass(frozen=True)
class RuntimeSdk:
    path: Path
    #: distribution name -> version
    versions: dict[str, str]
    #: the lowest (major, minor) Python every distribution declares support for
    min_python: tuple[int, int]

    def supports(self, python_version: str) -> bool:
        parts = tuple(int(p) for p in python_version.split(".")[:2])
        return parts >= self.min_python


def default_root() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "squall" / "runtime-sdk"


def _distributions() -> list[importlib.metadata.Distribution]:
    found = []
    for name in SDK_DISTRIBUTIONS:
        try:
            found.append(importlib.metadata.distribution(name))
        except importlib.metadata.PackageNotFoundError:
            raise SdkUnavailable(f"{name} is not installed") from None
    return found


def _min_python(requires: str | None) -> tuple[int, int]:
    """The lower bound of a Requires-Python such as ">= 3.10" or ">=2.7, !=3.0.*"; (3, 0) if none for 3.x."""
    best = (3, 0)
    for clause in (requires or "").split(","):
        clause = clause.strip().replace(" ", "")
        if clause.startswith(">="):
            nums = [int(p) for p in clause[2:].split(".")[:2] if p.isdigit()]
            if len(nums) == 2 and nums[0] == 3:
                best = max(best, (nums[0], nums[1]))
    return best


def _files(dist: importlib.metadata.Distribution) -> list[PurePosixPath]:
    """The distribution's files that live in its site-packages (no scripts, no caches)."""
    out = []
    for f in dist.files or ():
        rel = PurePosixPath(str(f))
        if rel.parts[0] == ".." or "__pycache__" in rel.parts or rel.suffix == ".pyc":
            continue
        out.append(rel)
    return out


def build_sdk(root: Path | None = None) -> RuntimeSdk:
    """The runtime SDK directory for the installed versions, built on first use."""
    dists = _distributions()
    versions = {d.metadata["Name"].lower(): d.version for d in dists}
    min_python = max(_min_python((d.metadata.get_all("Requires-Python") or [None])[0]) for d in dists)
    key = ";".join(f"{n}={v}" for n, v in sorted(versions.items()))
    target = (root or default_root()) / hashlib.sha256(key.encode()).hexdigest()[:16]
    sdk = RuntimeSdk(target, versions, min_python)
    if (target / _COMPLETE).exists():
        target.chmod(0o755)  # sandboxed EEs run as an unprivileged uid: they must be able to read it
        return sdk
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".build-", dir=target.parent))
    staging.chmod(0o755)  # mkdtemp makes it 0700; the sandbox's uid reads the SDK
    try:
        for dist in dists:
            base = Path(str(dist.locate_file("")))
            for rel in _files(dist):
                src = base / rel
                if not src.is_file():
                    continue
                dst = staging / rel
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dst)
        (staging / _COMPLETE).write_text(key + "\n")
        if target.exists():  # an incomplete leftover from an interrupted build
            shutil.rmtree(target, ignore_errors=True)
        try:
            staging.rename(target)
        except OSError:
            if not (target / _COMPLETE).exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return sdk
