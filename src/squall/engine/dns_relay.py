"""DNS for an EE whose host resolves through a loopback resolver (systemd-resolved's 127.0.0.53).

An EE's ``/etc/resolv.conf`` is the host's; a nameserver on the host's
loopback is not reachable from the EE's own namespace. With egress on,
``netns.py`` binds a UDP socket on each such address, port 53, inside the
namespace, and ``DnsRelay`` (served from the server's loop) forwards each
query datagram to the same address in the host's namespace and the answer
back to the asker. UDP only: a truncated answer's TCP retry is not relayed.
With egress off there is no relay (a DNS relay would be a way out).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

MAX_DATAGRAM = 65535


class DnsRelay:
    def __init__(self, sockets: list[socket.socket]) -> None:
        self._inside = sockets
        self._loop: asyncio.AbstractEventLoop | None = None
        self._upstream: dict[int, socket.socket] = {}  # by the inside socket's fd
        self._askers: dict[tuple[int, bytes], Any] = {}  # (inside fd, query id) -> the asker's address

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        for sock in self._inside:
            self._loop.add_reader(sock.fileno(), self._query, sock)

    def _query(self, inside: socket.socket) -> None:
        while True:
            try:
                data, asker = inside.recvfrom(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if len(data) < 12:  # not a DNS message
                continue
            upstream = self._upstream.get(inside.fileno())
            if upstream is None:
                upstream = self._open(inside)
                if upstream is None:
                    continue
            self._askers[(inside.fileno(), data[:2])] = asker
            with contextlib.suppress(OSError):
                upstream.send(data)

    def _open(self, inside: socket.socket) -> socket.socket | None:
        """A socket in the host's namespace (made on the loop's thread) to the same resolver."""
        assert self._loop is not None
        address = inside.getsockname()[:2]
        upstream = socket.socket(inside.family, socket.SOCK_DGRAM)
        try:
            upstream.setblocking(False)
            upstream.connect(address)
        except OSError:
            upstream.close()
            return None
        self._upstream[inside.fileno()] = upstream
        self._loop.add_reader(upstream.fileno(), self._answer, inside, upstream)
        return upstream

    def _answer(self, inside: socket.socket, upstream: socket.socket) -> None:
        while True:
            try:
                data = upstream.recv(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            asker = self._askers.pop((inside.fileno(), data[:2]), None)
            if asker is not None:
                with contextlib.suppress(OSError):
                    inside.sendto(data, asker)

    def close(self) -> None:
        loop = self._loop
        self._loop = None
        for sock in [*self._inside, *self._upstream.values()]:
            if loop is not None and not loop.is_closed() and sock.fileno() >= 0:
                loop.remove_reader(sock.fileno())
        for upstream in self._upstream.values():
            upstream.close()
        self._upstream.clear()
        self._askers.clear()
