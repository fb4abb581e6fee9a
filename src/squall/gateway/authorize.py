"""The authorize step of the pipeline: may this principal call this operation?

Today nothing is decided here beyond what authentication already did: every
authenticated principal (and S3's anonymous one) may call every operation, so
the default `AllowAll` does nothing. The step exists so that an IAM
implementation (identity policies, resource policies, session policies) can be
plugged in without touching the pipeline: pass an object with an `authorize`
method as `Gateway(authorizer=...)` from the composition root (server.py).
The protocol is structural, so an implementation under `services/` need not
import the gateway.
"""

from __future__ import annotations

from typing import Any, Protocol

from squall.services.base import RequestContext


class Authorizer(Protocol):
    """Decides, after the input was parsed and validated and before the provider is
    called, whether the request may proceed.

    `authorize` is called once per request, on the event loop, with the request's
    context (who, which account, region, service, operation) and the validated
    input. It returns None to allow and raises `ServiceError` (e.g. a 403
    `AccessDenied` in the family's wording) to refuse; the pipeline serializes that
    error like any other. It must not block and should be cheap: it is on the hot
    path of every request."""

    def authorize(self, ctx: RequestContext, params: dict[str, Any]) -> None: ...


class AllowAll:
    """The default: every authenticated principal may call every operation."""

    def authorize(self, ctx: RequestContext, params: dict[str, Any]) -> None:
        return None
