"""Commit notices: small facts a write transaction announces, delivered once it has committed.

A writer calls `txn.notify(channel, value)` inside its transaction (DynamoDB: "a record was
appended to stream ARN"); after COMMIT the store hands each notice to the listeners of its
channel, in the committing thread (listeners must be quick and thread-safe: typically
`loop.call_soon_threadsafe`). A rolled-back transaction announces nothing.

Notices are in-process. A server with several processes relays them: a worker subscribes to
every channel (`subscribe_all`) and forwards what it commits to the primary, which `publish`es
it to its own listeners (squall/worker.py), so whoever waits in the primary wakes as for its own
writes. A lost notice costs latency only: waiters poll as well.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

log = logging.getLogger("squall.storage")

Listener = Callable[[str], None]
AnyListener = Callable[[str, str], None]


class Notices:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_channel: dict[str, tuple[Listener, ...]] = {}
        self._any: tuple[AnyListener, ...] = ()

    def subscribe(self, channel: str, listener: Listener) -> None:
        with self._lock:
            self._by_channel[channel] = (*self._by_channel.get(channel, ()), listener)

    def unsubscribe(self, channel: str, listener: Listener) -> None:
        with self._lock:
            left = tuple(x for x in self._by_channel.get(channel, ()) if x is not listener)
            if left:
                self._by_channel[channel] = left
            else:
                self._by_channel.pop(channel, None)

    def subscribe_all(self, listener: AnyListener) -> None:
        """`listener(channel, value)` for every notice of every channel (relays)."""
        with self._lock:
            self._any = (*self._any, listener)

    def publish(self, notices: Iterable[tuple[str, str]], *, relayed: bool = False) -> None:
        """Deliver `(channel, value)` pairs; `relayed` ones (from another process) are not
        offered to `subscribe_all` listeners again."""
        for channel, value in notices:
            for listener in self._by_channel.get(channel, ()):
                self._call(listener, value)
            if not relayed:
                for relay in self._any:
                    try:
                        relay(channel, value)
                    except Exception:
                        log.exception("a notice relay failed")

    @staticmethod
    def _call(listener: Listener, value: str) -> None:
        try:
            listener(value)
        except Exception:
            log.exception("a commit-notice listener failed")
