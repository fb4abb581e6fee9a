"""The SNS provider: topics, subscriptions and publishing over one store, the delivery worker, and
the unsigned URLs Squall hands out (signing certificate, SubscribeURL, UnsubscribeURL)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from squall.lib.tasks import Background
from squall.protocol.errors import ServiceError
from squall.protocol.types import HttpResponse
from squall.services.base import ServiceProvider
from squall.services.calls import Calls
from squall.services.ports import FunctionEvents
from squall.services.sns.api_publish import PublishApi
from squall.services.sns.api_subscriptions import SubscriptionsApi
from squall.services.sns.api_topics import TopicsApi
from squall.services.sns.delivery import DeliveryWorker
from squall.services.sns.envelope import ACTION_PATH, CERT_PATH, CONFIRM_LINK, UNSUBSCRIBE_LINK, Envelopes
from squall.services.sns.errors import authorization_error
from squall.services.sns.outbox import Outbox
from squall.services.sns.publishing import SnsTopics
from squall.services.sns.records import Directory, Subscription
from squall.services.sns.signing import Signer
from squall.storage import Store

XMLNS = "http://sns.amazonaws.com/doc/2010-03-31/"


class SnsProvider(ServiceProvider):
    service = "sns"
    #: Served unsigned by the gateway (GET/HEAD): the certificate and the confirm/unsubscribe links.
    route_prefix = ACTION_PATH
    #: SubscribeURL and UnsubscribeURL at the endpoint root, as AWS hands them out (unsigned
    #: requests only, see gateway/extra_routes.py).
    link_prefixes = (CONFIRM_LINK, UNSUBSCRIBE_LINK)

    def __init__(
        self,
        store: Store,
        key_dir: Path,
        endpoint: str,
        *,
        calls: Calls,
        functions: FunctionEvents | None,
        delay_scale: float = 1.0,
    ) -> None:
        self.directory = Directory(store)
        self.outbox = Outbox(store)
        self.signer = Signer(key_dir)
        self.envelopes = Envelopes(self.signer, endpoint)
        self.worker = DeliveryWorker(
            self.outbox, self.directory, self.envelopes, calls, functions, delay_scale=delay_scale
        )
        #: The in-process interface other services publish through (see README.md).
        self.topics = SnsTopics(self.directory, self.outbox, self.worker)
        self.subscriptions = SubscriptionsApi(self.directory, self._confirmation)
        super().__init__(TopicsApi(self.directory), self.subscriptions, PublishApi(self.topics))

    def _confirmation(self, sub: Subscription, kind: str) -> None:
        self.worker.notify([self.outbox.add_confirmation(sub, kind)])

    def background(self) -> Sequence[Background]:
        return (self.worker,)

    def serve_url(self, method: str, path: str, query_string: str) -> HttpResponse:
        """GET handler for CERT_PATH and the `?Action=ConfirmSubscription|Unsubscribe` links."""
        if path == CERT_PATH:
            body = self.signer.certificate_pem
            headers = [("content-type", "application/x-x509-ca-cert"), ("content-length", str(len(body)))]
            return HttpResponse(200, headers, b"" if method == "HEAD" else body)
        query = {k: v[0] for k, v in parse_qs(query_string).items()}
        action = query.get("Action")
        try:
            if path in (ACTION_PATH, "/") and action == "ConfirmSubscription":
                arn = self.subscriptions.confirm(query.get("TopicArn", ""), query.get("Token", "")).arn
                result = f"<ConfirmSubscriptionResult><SubscriptionArn>{escape(arn)}</SubscriptionArn></ConfirmSubscriptionResult>"
            elif path in (ACTION_PATH, "/") and action == "Unsubscribe":
                sub = self.directory.subscription(query.get("SubscriptionArn", ""))
                if sub.authenticate_unsubscribe:
                    raise authorization_error("The unsubscribe action requires AWS authentication")
                self.subscriptions.remove(sub.arn)
                result = ""
            else:
                return _xml(
                    404,
                    "<ErrorResponse><Error><Type>Sender</Type><Code>NotFound</Code>"
                    "<Message>Unknown SNS link</Message></Error></ErrorResponse>",
                )
        except ServiceError as err:
            return _xml(
                err.status,
                f'<ErrorResponse xmlns="{XMLNS}"><Error><Type>Sender</Type>'
                f"<Code>{escape(err.code)}</Code><Message>{escape(err.message)}</Message></Error>"
                f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>",
            )
        return _xml(
            200,
            f'<{action}Response xmlns="{XMLNS}">{result}<ResponseMetadata><RequestId>'
            f"{uuid.uuid4()}</RequestId></ResponseMetadata></{action}Response>",
        )


def _xml(status: int, text: str) -> HttpResponse:
    body = text.encode()
    return HttpResponse(status, [("content-type", "text/xml"), ("content-length", str(len(body)))], body)
