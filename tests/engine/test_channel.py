"""The server end of an EE channel (engine/channel.py) against the runtime's blocking framing, on
the standard event loop and on uvloop (what the server runs)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from squall.engine.channel import TOO_LARGE, FrameChannel
from squall.engine.runtime import wire

uvloop = pytest.importorskip("uvloop")
LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}


@pytest.fixture(params=sorted(LOOPS))
def run(request: pytest.FixtureRequest) -> Callable[[Coroutine[Any, Any, Any]], Any]:
    def run(coro: Coroutine[Any, Any, Any]) -> Any:
        loop = LOOPS[request.param]()
        try:
            return loop.run_until_complete(coro)
        finally:
            loop.close()

    return run


async def _pair() -> tuple[FrameChannel, socket.socket]:
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    return await FrameChannel.connect(ours), theirs


def test_round_trip_and_split_frames(run: Callable[[Coroutine[Any, Any, Any]], Any]) -> None:
    async def main() -> list[tuple[dict[str, Any], bytes]]:
        chan, peer = await _pair()
        chan.write({"request_id": "r1", "client_context": {"é": [1, 2]}}, b'{"x": 1}')
        await asyncio.sleep(0)
        header = await asyncio.to_thread(wire.recv_header, peer)
        body = await asyncio.to_thread(wire.recv_frame, peer)
        assert header == {"request_id": "r1", "client_context": {"é": [1, 2]}}
        assert body == b'{"x": 1}'
        # Two replies, the first split byte by byte, the second in the same write as the first's end.
        raw = wire.pack_message({"ok": True}, b"A" * 300) + wire.pack_message({"ok": False}, b"")
        for i in range(len(raw) - 10):
            peer.send(raw[i : i + 1])
            await asyncio.sleep(0)
        peer.send(raw[len(raw) - 10 :])
        got = [await chan.read(), await chan.read()]
        chan.close()
        peer.close()
        return got

    assert run(main()) == [({"ok": True}, b"A" * 300), ({"ok": False}, b"")]


def test_peer_exit_fails_the_pending_read(run: Callable[[Coroutine[Any, Any, Any]], Any]) -> None:
    async def main() -> None:
        chan, peer = await _pair()
        pending = asyncio.ensure_future(chan.read())
        await asyncio.sleep(0.01)
        peer.send(wire.pack_message({"ok": True})[:5])  # a partial header, then the EE is gone
        peer.close()
        with pytest.raises((asyncio.IncompleteReadError, ConnectionError)):
            await pending
        with pytest.raises((asyncio.IncompleteReadError, ConnectionError)):
            await chan.read()  # and every later read
        with pytest.raises(ConnectionError):
            await asyncio.sleep(0.01)
            chan.write({"ok": True}, b"")

    run(main())


def test_abort_fails_the_pending_read(run: Callable[[Coroutine[Any, Any, Any]], Any]) -> None:
    async def main() -> None:
        chan, peer = await _pair()
        pending = asyncio.ensure_future(chan.read())
        asyncio.get_running_loop().call_later(0.01, chan.abort)
        with pytest.raises(ConnectionError):
            await pending
        peer.close()

    run(main())


def test_oversized_frame_ends_the_channel(run: Callable[[Coroutine[Any, Any, Any]], Any]) -> None:
    async def main() -> None:
        chan, peer = await _pair()
        peer.send((wire.MAX_FRAME + 1).to_bytes(4, "big"))
        with pytest.raises(ConnectionError):
            await chan.read()
        chan.close()
        peer.close()

    run(main())


def test_a_body_past_the_limit_is_dropped_as_it_arrives(
    run: Callable[[Coroutine[Any, Any, Any]], Any],
) -> None:
    """Never buffered: the channel only counts the bytes, then delivers the header, flagged."""

    async def main() -> None:
        chan, peer = await _pair()
        chan.body_limit = 1000
        peer.setblocking(False)
        big = 8 * 1024 * 1024
        loop = asyncio.get_running_loop()
        pending = asyncio.ensure_future(chan.read())
        await loop.sock_sendall(peer, wire.pack_message({"ok": True}, b"x" * big))
        header, body = await pending
        assert header == {"ok": True, TOO_LARGE: big} and body == b""
        assert len(chan._buf) == 0
        # the channel goes on: the next message within the limit arrives whole
        pending = asyncio.ensure_future(chan.read())
        await loop.sock_sendall(peer, wire.pack_message({"ok": True}, b"y" * 1000))
        assert await pending == ({"ok": True}, b"y" * 1000)
        chan.close()
        peer.close()

    run(main())


def test_messages_nobody_asked_for_end_the_channel(run: Callable[[Coroutine[Any, Any, Any]], Any]) -> None:
    """A function writing frames to its channel itself cannot make the server queue them."""

    async def main() -> None:
        chan, peer = await _pair()
        peer.sendall(wire.pack_message({"ok": True}, b"1") * 3)
        for _ in range(1000):
            if chan._error is not None:
                break
            await asyncio.sleep(0.001)
        with pytest.raises(ConnectionError):
            await chan.read()
        chan.close()
        peer.close()

    run(main())
