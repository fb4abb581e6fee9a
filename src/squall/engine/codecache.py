"""Function code on disk for execution environments.

A deployment package is unpacked once per SHA-256 into ``<root>/<sha hex>``
(unpacked into a temporary sibling, then renamed, so a half-written tree is
never used) and made read-only. The directory is durable: a restarted server
reuses it. Callers hand in a loader for the zip's bytes; the engine does not
know where zips are stored.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
import threading
import uuid
import zipfile
from collections.abc import Callable, Sequence
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


def merged_layers(dirs: Sequence[str]) -> str:
    """One read-only directory holding ``dirs`` copied in order (later ones win), for hosts without overlayfs.

    Made once per layer set, next to the first layer in its cache (the layer
    directories are content-keyed, so their paths name the set's content).
    """
    digest = hashlib.sha256("\0".join(dirs).encode()).hexdigest()
    target = Path(dirs[0]).parent / f"merged{digest}"
    if target.is_dir():
        return str(target)
    staging = target.parent / f".{target.name}.{uuid.uuid4().hex}"
    try:
        staging.mkdir()
        for layer in dirs:
            _copy_over(Path(layer), staging)
        _make_read_only(staging)
        os.rename(staging, target)
    except FileExistsError:
        pass  # another thread or process finished it first
    except OSError as exc:
        raise CodeCacheError(f"could not merge the layers: {exc}") from exc
    finally:
        if staging.exists():
            _make_writable(staging)
            shutil.rmtree(staging, ignore_errors=True)
    return str(target)


def _copy_over(src: Path, dest: Path) -> None:
    for dirpath, dirnames, filenames in os.walk(src):
        out = dest / Path(dirpath).relative_to(src)
        out.mkdir(exist_ok=True)
        for name in filenames:
            target = out / name
            if target.is_dir():
                _make_writable(target)
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
            shutil.copy2(os.path.join(dirpath, name), target)
        for name in dirnames:
            if (out / name).is_file():
                (out / name).unlink()


def _make_writable(base: Path) -> None:
    for dirpath, dirnames, _ in os.walk(base):
        for name in dirnames:
            os.chmod(os.path.join(dirpath, name), 0o755)
    os.chmod(base, 0o755)


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
    _make_read_only(base)


def _make_read_only(base: Path) -> None:
    for dirpath, dirnames, filenames in os.walk(base):
        for name in filenames:
            p = os.path.join(dirpath, name)
            if not os.path.islink(p):
                os.chmod(p, stat.S_IMODE(os.stat(p).st_mode) & ~0o222 | 0o444)
        for name in dirnames:
            os.chmod(os.path.join(dirpath, name), 0o555)
    os.chmod(base, 0o555)
