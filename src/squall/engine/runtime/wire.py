"""Framing shared by the server and the in-sandbox bootstrap.

A frame is a 4-byte big-endian length followed by that many bytes. A message
is a JSON header frame, optionally followed by a raw body frame (the event or
the result payload), so payloads are never JSON-escaped twice. This file must
stay importable by any interpreter the zygote runs (standard library only).
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
from typing import Any

_LEN = struct.Struct(">I")
MAX_FRAME = 64 * 1024 * 1024
_ENCODER = json.JSONEncoder(separators=(",", ":"))  # json.dumps with options builds one per call


class ChannelClosed(Exception):
    """The peer closed the channel (it exited or was killed)."""


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ChannelClosed()
        buf += chunk
    return bytes(buf)


def send_frame(sock: socket.socket, data: bytes) -> None:
    sock.sendall(_LEN.pack(len(data)) + data)


def recv_frame(sock: socket.socket) -> bytes:
    (n,) = _LEN.unpack(_recv_exact(sock, _LEN.size))
    if n > MAX_FRAME:
        raise ChannelClosed(f"frame of {n} bytes exceeds the limit")
    return _recv_exact(sock, n)


def send_message(sock: socket.socket, header: dict[str, Any], body: bytes | None = None) -> None:
    sock.sendall(pack_message(header, body))


def recv_header(sock: socket.socket) -> dict[str, Any]:
    header: dict[str, Any] = json.loads(recv_frame(sock))
    return header


def pack_message(header: dict[str, Any], body: bytes | None = None) -> bytes:
    head = _ENCODER.encode(header).encode()
    data = _LEN.pack(len(head)) + head
    if body is not None:
        data += _LEN.pack(len(body)) + body
    return data


def unpack_length(prefix: bytes) -> int:
    (n,) = _LEN.unpack(prefix)
    return int(n)


async def read_message(reader: asyncio.StreamReader) -> tuple[dict[str, Any], bytes]:
    """The server side of `send_message`: one header and one body from an asyncio stream."""
    n = unpack_length(await reader.readexactly(4))
    header: dict[str, Any] = json.loads(await reader.readexactly(n))
    m = unpack_length(await reader.readexactly(4))
    return header, await reader.readexactly(m)
