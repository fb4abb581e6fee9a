"""A minimal HTTP/1.1 POST over asyncio streams and h11, for HTTP/S subscriptions."""

from __future__ import annotations

import asyncio
import ssl
from urllib.parse import urlsplit

import h11

TIMEOUT_S = 15.0


async def post(url: str, headers: list[tuple[str, str]], body: bytes, limit_s: float = TIMEOUT_S) -> int:
    """POST `body` to `url`; the response status. Raises OSError / TimeoutError on transport failures
    (TimeoutError too when it took longer than `limit_s`)."""
    async with asyncio.timeout(limit_s):
        return await _post(url, headers, body)


async def _post(url: str, headers: list[tuple[str, str]], body: bytes) -> int:
    parts = urlsplit(url)
    secure = parts.scheme == "https"
    host = parts.hostname or ""
    port = parts.port or (443 if secure else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    context = ssl.create_default_context() if secure else None
    reader, writer = await asyncio.open_connection(host, port, ssl=context)
    try:
        conn = h11.Connection(h11.CLIENT)
        host_header = parts.netloc.rsplit("@", 1)[-1]
        all_headers = [
            ("host", host_header),
            ("content-length", str(len(body))),
            ("connection", "close"),
            *headers,
        ]
        writer.write(conn.send(h11.Request(method="POST", target=target, headers=all_headers)) or b"")
        writer.write(conn.send(h11.Data(data=body)) or b"")
        writer.write(conn.send(h11.EndOfMessage()) or b"")
        await writer.drain()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await reader.read(65536)
                conn.receive_data(data)
                if not data and conn.their_state is h11.SEND_RESPONSE:
                    raise ConnectionError("connection closed before a response")
                continue
            if isinstance(event, h11.Response):
                return int(event.status_code)
            if isinstance(event, h11.ConnectionClosed):
                raise ConnectionError("connection closed before a response")
    except h11.RemoteProtocolError as exc:
        raise ConnectionError(str(exc)) from exc
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (OSError, ssl.SSLError):
            pass
