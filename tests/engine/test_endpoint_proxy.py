"""The byte proxy behind the Squall endpoint inside an EE: every byte both ways, on uvloop too."""

from __future__ import annotations

import asyncio
import socket

import pytest
import uvloop

from squall.engine.endpoint_proxy import EndpointProxy


async def _round_trips() -> None:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.write(b"<eof>")
        writer.close()

    upstream = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = upstream.sockets[0].getsockname()[1]
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    proxy = EndpointProxy([listener], "127.0.0.1", port)
    proxy.start()
    address = listener.getsockname()
    for _ in range(20):  # the first bytes go out at once, before the proxy reached upstream
        reader, writer = await asyncio.open_connection(*address)
        big = b"x" * 300_000
        writer.write(b"hello" + big)
        assert await asyncio.wait_for(reader.readexactly(5 + len(big)), 5) == b"hello" + big
        writer.write_eof()  # a half-close reaches the server, whose answer still comes back
        assert await asyncio.wait_for(reader.read(), 5) == b"<eof>"
        writer.close()
    reader, writer = await asyncio.open_connection(*address)
    writer.write(b"ping")
    assert await asyncio.wait_for(reader.readexactly(4), 5) == b"ping"
    proxy.close()  # the EE is gone: its connections are dropped
    assert await asyncio.wait_for(reader.read(), 5) == b""
    upstream.close()


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_proxy_copies_everything_both_ways(loop: str) -> None:
    if loop == "uvloop":
        uvloop.run(_round_trips())
    else:
        asyncio.run(_round_trips())
