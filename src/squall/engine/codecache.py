"""Function code on disk for execution environments.

A deployment package is unpacked once per SHA-256 into ``<root>/<sha hex>``
(unpacked into a temporary sibling, then renamed, so a half-written tree is
never used) and made read-only. The directory is durable: a restarted server
reuses it. Callers hand in a loader for the zip's bytes; the engine does not
know where zips are stored.
"""

from __future__ import annotations

import io
import os
import shutil
import stat
import threading
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path


class CodeCacheError(Exception):
    """The package could not be unpacked."""


class CodeCache:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def path(self, sha_hex: str, load: Callable[[], bytes]) -> str:
        """The unpacked code directory for the package with digest ``sha_hex``."""
        if not sha_hex.isalnum():
            raise CodeCacheError(f"bad digest {sha_hex!r}")
        target = self.root / sha_hex
        if target.is_dir():
            return str(target)
        with self._lock:
            if target.is_dir():
                return str(target)
            staging = self.root / f".{sha_hex}.{uuid.uuid4().hex}"
            try:
                unpack(load(), staging)
                os.rename(staging, target)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
        return str(target)


def unpack(data: bytes, dest: Path) -> None:
    """Extract a zip into ``dest`` (no entry may escape it), keep executable bits, then make it read-only."""
    dest.mkdir(parents=True)
    base = dest.resolve()
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for info in zf.infolist():
                out = (base / info.filename).resolve()
                if out != base and base not in out.parents:
                    raise CodeCacheError(f"zip entry {info.filename!r} escapes the code directory")
                zf.extract(info, base)
                mode = (info.external_attr >> 16) & 0o777
                if not info.is_dir() and mode & 0o111:
                    os.chmod(out, 0o755)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise CodeCacheError(f"could not unpack the code: {exc}") from exc
    for dirpath, dirnames, filenames in os.walk(base):
        for name in filenames:
            p = os.path.join(dirpath, name)
            os.chmod(p, stat.S_IMODE(os.stat(p).st_mode) & ~0o222 | 0o444)
        for name in dirnames:
            os.chmod(os.path.join(dirpath, name), 0o555)
    os.chmod(base, 0o555)
