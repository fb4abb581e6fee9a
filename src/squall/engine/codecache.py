"""Function code on disk for execution environments.

A deployment package is unpacked once per SHA-256 into ``<root>/<sha hex>``
(unpacked into a temporary sibling, then renamed, so a half-written tree is
never used) and made read-only. The directory is durable: a restarted server
reuses it. Callers hand in a loader for the zip's bytes; the engine does not
know where zips are stored.

Unpacking trusts nothing the zip declares: bytes are counted as they are
inflated and unpacking stops past `limit` (AWS's 262,144,000 unzipped bytes);
entries with ``..`` or absolute names and symbolic links that point outside
the tree are refused. `path` blocks (it may inflate 250 MB): call it off the
event loop. A full disk while unpacking is `storage.StorageFull` (the service's
transient error), not a bad zip. One lock per tree, so a big unpack delays only its own callers.

Garbage collection: `collect(keep)` removes every tree whose name is not in
``keep()`` and that no caller pinned since the collection began. A caller
about to use trees (an execution environment starting on them) pins them
(`pin`/`unpin`, or `pinned`) before `path` and until the start is over; the
renames happen under the lock pins take, so a tree is either kept or renamed
away before the pin (the caller then unpacks it again), never removed under
a pinned caller. Removed trees are renamed to ``.trash-*`` first, then
deleted outside the lock. Pins are per process, which is enough: only the
primary process of a server runs functions (workers serve DynamoDB items).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from squall.storage import StorageFull
from squall.storage.space import is_full

#: AWS's limit on a function's code plus its layers, unzipped.
UNZIPPED_LIMIT = 262144000
STALE_SECONDS = 600
_CHUNK = 1 << 20
_MAX_LINK = 4096


class CodeCacheError(Exception):
    """The package could not be unpacked."""


class ZipRefused(CodeCacheError):
    """The zip breaks a rule (too big unzipped, an entry escaping the tree); the message says which."""


class TooBig(ZipRefused):
    """More than the limit unzipped; `size` is how far counting got (at least limit + 1)."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"Unzipped size must be smaller than {limit} bytes")
        self.size = size
        self.limit = limit


class CodeCache:
    def __init__(self, root: str | os.PathLike[str], limit: int = UNZIPPED_LIMIT) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.limit = limit
        self._lock = threading.Lock()  # pins, collection, the per-tree locks
        self._tree_locks: dict[str, threading.Lock] = {}
        self._pins: dict[str, int] = {}
        self._ready: set[str] = set()  # trees `path` found or made (and `collect` did not remove)
        self._epoch = 0  # moves at the start of each `collect`
        self._last_pin: dict[str, int] = {}  # tree -> the epoch it was last pinned in

    def path(self, sha_hex: str, load: Callable[[], bytes]) -> str:
        """The unpacked code directory for the package with digest ``sha_hex`` (blocking)."""
        if not sha_hex.isalnum():
            raise CodeCacheError(f"bad digest {sha_hex!r}")
        target = self.root / sha_hex
        if target.is_dir():
            self._ready.add(sha_hex)
            return str(target)
        with self._lock:
            tree_lock = self._tree_locks.setdefault(sha_hex, threading.Lock())
        with tree_lock:
            if not target.is_dir():
                staging = self.root / f".{sha_hex}.{uuid.uuid4().hex}"
                try:
                    unpack(load(), staging, self.limit)
                    os.rename(staging, target)
                except BaseException:
                    _remove_tree(staging)
                    raise
            self._ready.add(sha_hex)
        return str(target)

    def pin(self, names: Sequence[str]) -> None:
        """Keep the trees ``names`` (top-level names under the root) from `collect` until `unpin`."""
        with self._lock:
            pins, last, epoch = self._pins, self._last_pin, self._epoch
            for name in names:
                pins[name] = pins.get(name, 0) + 1
                last[name] = epoch

    def unpin(self, names: Sequence[str]) -> None:
        with self._lock:
            pins = self._pins
            for name in names:
                left = pins[name] - 1
                if left:
                    pins[name] = left
                else:
                    del pins[name]

    @contextlib.contextmanager
    def pinned(self, names: Sequence[str]) -> Iterator[None]:
        self.pin(names)
        try:
            yield
        finally:
            self.unpin(names)

    def ready(self, names: Iterable[str]) -> bool:
        """Whether every tree in ``names`` is known to be unpacked (no disk access)."""
        return self._ready.issuperset(names)

    def collect(self, keep: Callable[[], set[str]]) -> list[str]:
        """Remove every tree not in ``keep()`` and not pinned, and stale leftovers of interrupted
        unpacks; returns the names removed (blocking: call it off the event loop).

        ``keep()`` reads the records outside the lock; a tree pinned at any moment since it
        started is kept too, so a caller that resolved a record ``keep()`` missed (committed
        meanwhile) never loses its tree: it pinned before asking for the path."""
        doomed: list[Path] = []
        removed: list[str] = []
        with self._lock:
            self._epoch += 1
            epoch = self._epoch
        wanted = keep()
        with self._lock:
            for entry in self.root.iterdir():
                name = entry.name
                if name.startswith("."):
                    if name.startswith(".trash-") or _stale(entry):
                        doomed.append(entry)  # an interrupted collection or unpack
                    continue
                if name in wanted or name in self._pins or self._last_pin.get(name, -1) >= epoch:
                    continue
                trash = self.root / f".trash-{name}.{uuid.uuid4().hex}"
                try:
                    os.rename(entry, trash)
                except OSError:
                    continue
                doomed.append(trash)
                removed.append(name)
                self._ready.discard(name)
                self._last_pin.pop(name, None)
        for path in doomed:
            _remove_tree(path)
        return removed


def _stale(path: Path) -> bool:
    """A staging directory no unpack or merge has touched for 10 minutes: left by a crash."""
    try:
        return time.time() - path.lstat().st_mtime > STALE_SECONDS
    except OSError:
        return False


def tree_names(code_dir: str, layer_dirs: Sequence[str]) -> tuple[str, ...]:
    """The top-level cache names an execution environment of this code and these layers uses
    (the merged layer directory included, for hosts without overlayfs)."""
    names = [os.path.basename(code_dir), *(os.path.basename(d) for d in layer_dirs)]
    if len(layer_dirs) > 1:
        names.append(Path(merged_name(layer_dirs)).name)
    return tuple(names)


def merged_name(dirs: Sequence[str]) -> str:
    digest = hashlib.sha256("\0".join(dirs).encode()).hexdigest()
    return str(Path(dirs[0]).parent / f"merged{digest}")


def merged_layers(dirs: Sequence[str]) -> str:
    """One read-only directory holding ``dirs`` copied in order (later ones win), for hosts without overlayfs.

    Made once per layer set, next to the first layer in its cache (the layer
    directories are content-keyed, so their paths name the set's content).
    """
    target = Path(merged_name(dirs))
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
            _remove_tree(staging)
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


def _remove_tree(path: Path) -> None:
    if not path.exists() and not path.is_symlink():
        return
    with contextlib.suppress(OSError):
        if path.is_dir() and not path.is_symlink():
            _make_writable(path)
    shutil.rmtree(path, ignore_errors=True)


# -- reading zips without trusting them -------------------------------------------------------


def _is_link(info: zipfile.ZipInfo) -> bool:
    return info.create_system == 3 and stat.S_ISLNK(info.external_attr >> 16)


def _entry_parts(info: zipfile.ZipInfo) -> list[str]:
    """The entry's path components; refuses absolute names and ``..``."""
    name = info.filename
    if name.startswith("/") or "\0" in name:
        raise ZipRefused(f"zip entry {name!r} has an absolute path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ZipRefused(f"zip entry {name!r} escapes the code directory")
    return parts


def _escapes(parts: list[str], links: dict[str, str]) -> bool:
    """Whether the path ``parts`` leaves the tree once the zip's symlinks ``links`` (entry name ->
    target) are followed as the kernel would (component by component; 40 hops at most)."""
    resolved: list[str] = []
    todo = list(reversed(parts))
    hops = 0
    while todo:
        part = todo.pop()
        if part in ("", "."):
            continue
        if part == "..":
            if not resolved:
                return True
            resolved.pop()
            continue
        resolved.append(part)
        target = links.get("/".join(resolved))
        if target is not None:
            hops += 1
            if hops > 40 or target.startswith("/"):
                return True
            resolved.pop()
            todo.extend(reversed(target.split("/")))
    return False


def _links(zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo]) -> dict[str, str]:
    links: dict[str, str] = {}
    for info in infos:
        if _is_link(info):
            if info.file_size > _MAX_LINK:
                raise ZipRefused(f"zip entry {info.filename!r} is a symbolic link with a too long target")
            with zf.open(info) as f:
                raw = f.read(_MAX_LINK + 1)
            if len(raw) > _MAX_LINK:
                raise ZipRefused(f"zip entry {info.filename!r} is a symbolic link with a too long target")
            links["/".join(_entry_parts(info))] = raw.decode("utf-8", "surrogateescape")
    return links


def _checked(zf: zipfile.ZipFile) -> tuple[list[zipfile.ZipInfo], dict[str, str]]:
    """The entries and symlinks of ``zf`` once no entry or link can reach outside the tree.

    No entry may lie under a symbolic link (a file "lib/x" where "lib" is a link): every
    entry then lands where its name says, and each link is followed from there."""
    infos = zf.infolist()
    links = _links(zf, infos)
    for info in infos:
        parts = _entry_parts(info)
        if links and any("/".join(parts[:i]) in links for i in range(1, len(parts))):
            raise ZipRefused(f"zip entry {info.filename!r} lies under a symbolic link")
        if _is_link(info) and _escapes(parts, links):
            raise ZipRefused(
                f"zip entry {info.filename!r} is a symbolic link that points outside the code directory"
            )
    return infos, links


def _open_zip(data: bytes) -> zipfile.ZipFile:
    import io

    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise CodeCacheError(f"could not unpack the code: {exc}") from exc


def scan(data: bytes, limit: int = UNZIPPED_LIMIT) -> int:
    """The zip's real unzipped size, counted by inflating every entry (nothing written; the
    declared sizes are not trusted): raises `TooBig` past ``limit``, `ZipRefused` for an entry
    or link escaping the tree, `CodeCacheError` for a zip that cannot be read. Blocking."""
    with _open_zip(data) as zf:
        try:
            infos, links = _checked(zf)
            total = sum(len(t.encode("utf-8", "surrogateescape")) for t in links.values())
            if total > limit:
                raise TooBig(total, limit)
            for info in infos:
                if info.is_dir() or _is_link(info):
                    continue
                with zf.open(info) as f:
                    while chunk := f.read(_CHUNK):
                        total += len(chunk)
                        if total > limit:
                            raise TooBig(total, limit)
        except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError, RuntimeError) as exc:
            raise CodeCacheError(f"could not unpack the code: {exc}") from exc
    return total


def unpack(data: bytes, dest: Path, limit: int = UNZIPPED_LIMIT) -> None:
    """Extract a zip into ``dest`` (no entry or symlink may escape it; bytes counted as they are
    inflated, refused past ``limit``), keep executable bits, then make it read-only. Blocking."""
    dest.mkdir(parents=True)
    base = dest.resolve()
    with _open_zip(data) as zf:
        try:
            infos, links = _checked(zf)
            total = 0
            for info in infos:
                parts = _entry_parts(info)
                if not parts or _is_link(info):
                    continue
                out = base.joinpath(*parts)
                if info.is_dir():
                    out.mkdir(parents=True, exist_ok=True)
                    continue
                out.parent.mkdir(parents=True, exist_ok=True)
                mode = 0o755 if (info.external_attr >> 16) & 0o111 else 0o644
                fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
                with os.fdopen(fd, "wb") as w, zf.open(info) as f:
                    while chunk := f.read(_CHUNK):
                        total += len(chunk)
                        if total > limit:
                            raise TooBig(total, limit)
                        w.write(chunk)
            for name, target in links.items():
                link = base / name
                link.parent.mkdir(parents=True, exist_ok=True)
                os.symlink(target, link)
            for name in links:  # belt and braces: what the kernel resolves stays inside
                real = Path(os.path.realpath(base / name))
                if real != base and base not in real.parents:
                    raise ZipRefused(
                        f"zip entry {name!r} is a symbolic link that points outside the code directory"
                    )
        except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError, RuntimeError) as exc:
            if isinstance(exc, OSError) and is_full(exc):
                raise StorageFull("no space left to unpack the code") from exc
            raise CodeCacheError(f"could not unpack the code: {exc}") from exc
    _make_read_only(base)


def _make_read_only(base: Path) -> None:
    for dirpath, dirnames, filenames in os.walk(base):
        for name in filenames:
            p = os.path.join(dirpath, name)
            if not os.path.islink(p):
                os.chmod(p, stat.S_IMODE(os.stat(p).st_mode) & ~0o222 | 0o444)
        for name in dirnames:
            p = os.path.join(dirpath, name)
            if not os.path.islink(p):
                os.chmod(p, 0o555)
    os.chmod(base, 0o555)
