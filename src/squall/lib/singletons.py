"""Process-wide instances by key, closed when the process exits.

The engine keeps a few things made ahead by background threads (spare cgroups, spare network
namespaces, spare /tmp filesystems), one set per key (a cgroup hierarchy, a network plan, a
directory) shared by every caller in the process. ``PerProcess(factory)`` holds them:
``get(key)`` makes the key's instance on first use (once, under a lock) and returns it after;
at exit every instance made is closed, errors of one not stopping the others.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
from collections.abc import Callable, Hashable
from typing import Generic, Protocol, TypeVar


class Closable(Protocol):
    def close(self) -> None: ...


K = TypeVar("K", bound=Hashable)
V = TypeVar("V", bound=Closable)


class PerProcess(Generic[K, V]):
    def __init__(self, factory: Callable[[K], V]) -> None:
        self._factory = factory
        self._made: dict[K, V] = {}
        self._lock = threading.Lock()
        atexit.register(self.close_all)

    def get(self, key: K) -> V:
        with self._lock:
            found = self._made.get(key)
            if found is None:
                found = self._made[key] = self._factory(key)
            return found

    def close_all(self) -> None:
        with self._lock:
            made = list(self._made.values())
        for item in made:
            with contextlib.suppress(OSError):
                item.close()
