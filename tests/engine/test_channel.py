"""The server end of an EE channel (engine/channel.py) against the runtime's blocking framing, on
the standard event loop and on uvloop (what the server runs)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from squall.engine.channel import FrameChannel
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
