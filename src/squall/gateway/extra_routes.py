"""Extra routes: URLs Squall hands out itself, served unsigned before AWS routing.

Some operations answer with a URL the client then fetches with a plain GET (no
SigV4): Lambda's presigned code download (`GetFunction`'s `Code.Location`), SNS's
signing certificate (`SigningCertURL`) and confirmation and unsubscribe links. The provider that hands the URL out serves
it: the composition root passes `(path prefix, handler)` pairs as
`Gateway(extra_routes=...)`. A GET or HEAD whose path starts with a prefix goes
to its handler, with the provider's own checks (e.g. the URL's signature) and
no authentication, routing, parsing or validation. A prefix with a `?` (`/?Action=Unsubscribe&`,
SNS's UnsubscribeURL at the endpoint root, as AWS hands it out) matches that exact path whose query
string starts with the rest, and only unsigned requests (no Authorization header, no
X-Amz-Signature): a signed call of the same action goes through the pipeline.

A handler is synchronous (it may read files): it runs in a worker thread. An
exception becomes a bare 500 (the traceback goes to the server log), since
these URLs are fetched by browsers and curl, not SDKs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from squall.protocol.types import HttpRequest, HttpResponse

log = logging.getLogger("squall.gateway")

#: (method, path, query string) -> response; runs in a worker thread.
RawHandler = Callable[[str, str, str], HttpResponse]


def extra_route_matches(prefix: str, head: HttpRequest) -> bool:
    """Whether `head` (a GET or HEAD) is for the extra route `prefix` (see the module docstring)."""
    path, sep, query = prefix.partition("?")
    if not sep:
        return head.path.startswith(prefix)
    return (
        head.path == path
        and head.query_string.startswith(query)
        and "authorization" not in head.headers
        and "X-Amz-Signature=" not in head.query_string
    )


async def serve_extra(handler: RawHandler, head: HttpRequest, request_id: str) -> HttpResponse:
    """Run `handler` for `head` off the event loop."""
    try:
        return await asyncio.to_thread(handler, head.method, head.path, head.query_string)
    except Exception:
        log.exception("request %s failed", request_id)
        return HttpResponse(500, [("content-type", "text/plain")], b"internal error")
