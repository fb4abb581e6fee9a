"""A background thread that keeps something made ahead (spares), woken when it should look again.

`Refilling` is the base of the engine's spare makers (cgroups, network namespaces, /tmp
filesystems): `_poke()` starts the daemon thread on first use and wakes it; the subclass's
`_run()` loops, waiting on `_wake` (a Condition, also the lock of the subclass's queues) until
there is work or `_closed` is set; `_stop_thread()` sets `_closed`, wakes the thread and joins
it (not when called from the thread itself).
"""

from __future__ import annotations

import threading


class Refilling:
    def __init__(self, thread_name: str) -> None:
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._thread_name = thread_name

    def _run(self) -> None:
        raise NotImplementedError

    def _poke(self) -> None:
        with self._wake:
            if self._closed:
                return
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._thread_name, daemon=True)
                self._thread.start()
            self._wake.notify()

    def _stop_thread(self, timeout: float = 5.0) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
