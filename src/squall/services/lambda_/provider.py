"""The Lambda provider: the operation parts composed into one `ServiceProvider`.

Parts on the functions side: functions, versions and updates, aliases,
concurrency, tags. The parts hanging off a function (layers, permissions,
event invoke configs, event source mappings) come from `attachments.Attachments`, built
over the functions' `Directory`; its `LayerStore` is the functions'
`LayerResolver` (a test may pass another as `layers`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from squall.engine.asyncq import AsyncQueue
from squall.engine.concurrency import Limiter
from squall.engine.netns import Plan
from squall.engine.pool import KEEP_ALIVE_S, PoolManager
from squall.lib.tasks import Background, Started
from squall.observability import Telemetry
from squall.protocol.types import HttpResponse
from squall.services.base import ServiceProvider
from squall.services.calls import Calls
from squall.services.lambda_.aliases import AliasesApi
from squall.services.lambda_.api_functions import FunctionsApi
from squall.services.lambda_.async_invoke import EventRunner
from squall.services.lambda_.async_outcomes import RecordingSink
from squall.services.lambda_.attachments import Attachments
from squall.services.lambda_.code import URL_PREFIX, CodeStore
from squall.services.lambda_.concurrency import ConcurrencyApi, load_reserved
from squall.services.lambda_.contracts import LayerResolver
from squall.services.lambda_.destinations import DeliveringSink, Senders
from squall.services.lambda_.esm_access import SourceAccess
from squall.services.lambda_.esm_pollers import SqsPollers
from squall.services.lambda_.esm_stream_pollers import DynamoStreamPollers, latest_positions
from squall.services.lambda_.functions import Directory
from squall.services.lambda_.invoke import InvokeApi
from squall.services.lambda_.invoker import Invoker
from squall.services.lambda_.lifecycle import Lifecycle
from squall.services.lambda_.ports import LambdaEvents
from squall.services.lambda_.provisioned import Provisioner
from squall.services.lambda_.shared import Shared
from squall.services.lambda_.tags import TagsApi
from squall.services.lambda_.versions import VersionsApi
from squall.services.ports import ObjectReader, QueueFeed, RoleSessions, StreamRecords
from squall.storage import BlobStore, Store


class LambdaProvider(ServiceProvider):
    service = "lambda"

    def __init__(
        self,
        store: Store,
        blobs: BlobStore,
        *,
        layers: LayerResolver | None = None,
        code_root: Path | None = None,
        keep_alive_s: float = KEEP_ALIVE_S,
        limiter: Limiter | None = None,
        async_retry_base_s: float = 60.0,
        async_concurrency: int = 64,
        telemetry: Telemetry | None = None,
        endpoint: str | None = None,
        calls: Calls | None = None,
        role_sessions: RoleSessions | None = None,
        objects: ObjectReader | None = None,
        queues: QueueFeed | None = None,
        streams: StreamRecords | None = None,
        network: Plan | None = None,
    ) -> None:
        """What Lambda reaches in other services, each None when that service is not in this
        server: `calls` (SQS and SNS destinations), `role_sessions` (STS: execution-role
        credentials), `objects` (S3: packages from S3Bucket/S3Key), `queues` (SQS: the SQS
        event source mappings' feed), `streams` (DynamoDB: stream mappings' records); `network`:
        each EE in a network namespace of its own (the server's port served inside, egress or not)."""
        # Without a shared `Telemetry` (a provider built alone in a test) it owns one.
        self._own_telemetry = telemetry is None
        self.telemetry = telemetry or Telemetry(store)
        codes = CodeStore(store, blobs)
        directory = Directory(store)
        self.attachments = Attachments.build(store, blobs, directory, sign_url=codes.presigned_blob_url)
        self.attachments.layers.objects = objects
        self.shared = Shared(
            store, codes, Lifecycle(store, codes), directory, layers or self.attachments.layers, objects
        )
        self.tags = TagsApi(self.shared)
        self.tags.add_target("event-source-mapping", self.attachments.mappings.tags)
        self.pools = PoolManager(keep_alive_s=keep_alive_s, network=network)
        self.limiter = limiter or Limiter()
        self.invoker = Invoker(
            self.shared, self.pools, code_root, self.telemetry, self.limiter, role_sessions
        )
        self.provisioner = Provisioner(self.invoker, endpoint)
        self.outcomes = RecordingSink(store, self.attachments.invoke_configs)
        #: Where final async outcomes go.
        self.destinations = Senders(calls, acting=self.invoker.acting_principal)
        self.sink = DeliveringSink(self.outcomes, self.telemetry.metrics, self.destinations)
        self.async_queue = AsyncQueue(
            store,
            EventRunner(self.invoker, self.attachments.invoke_configs, endpoint),
            self.sink,
            retry_base_s=async_retry_base_s,
            concurrency=async_concurrency,
        )
        #: The in-process door for other services (S3, SNS, EventBridge, destinations): async events.
        self.events = LambdaEvents(directory, self.attachments.policies, self.async_queue)
        self.destinations.functions = self.events
        self.shared.grants = self.attachments.policies.allows
        self.attachments.mappings.check_source = SourceAccess(
            self.invoker.acting_principal,
            queues,
            lambda ref: int(self.invoker.resolve(ref).config.get("Timeout") or 3),
        ).check
        #: The pollers of SQS event source mappings (None: no SQS in this server).
        self.sqs_pollers = (
            SqsPollers(self.attachments.mappings, self.invoker, queues, endpoint)
            if queues is not None
            else None
        )
        #: The pollers of DynamoDB stream mappings (None: no DynamoDB in this server).
        self.stream_pollers = (
            DynamoStreamPollers(
                self.attachments.mappings,
                self.invoker,
                streams,
                store,
                self.telemetry.metrics,
                self.sink,
                endpoint,
            )
            if streams is not None
            else None
        )
        if streams is not None:
            stream_records = streams
            self.attachments.mappings.latest_positions = lambda arn: latest_positions(stream_records, arn)
        super().__init__(
            FunctionsApi(self.shared),
            VersionsApi(self.shared),
            AliasesApi(self.shared),
            ConcurrencyApi(self.shared, self.limiter, self.provisioner),
            self.tags,
            InvokeApi(self.invoker, self.async_queue),
            *self.attachments.parts,
        )

    @property
    def directory(self) -> Directory:
        """The `FunctionDirectory` for the parts that hang off a function."""
        return self.shared.directory

    def background(self) -> Sequence[Background]:
        """Started in this order, stopped in reverse: on shutdown the pollers stop before the
        async queue they may feed, the queue and the warm-ups before the pools they run in."""
        components: list[Background] = [
            _Setup(self),
            self.shared.lifecycle,
            self.pools,
            self.provisioner,
            self.async_queue,
        ]
        if self.sqs_pollers is not None:
            components.append(self.sqs_pollers)
        if self.stream_pollers is not None:
            components.append(self.stream_pollers)
        return components

    # -- the code download route (GetFunction's Code.Location) ------------------------------

    route_prefix = URL_PREFIX

    def serve_code(self, method: str, path: str, query_string: str) -> HttpResponse:
        blob_id = self.shared.codes.verify_url(path, query_string)
        if blob_id is None:
            body = b"<Error><Code>AccessDenied</Code><Message>Request has expired or the signature is invalid</Message></Error>"
            return HttpResponse(403, [("content-type", "application/xml")], body)
        data = self.shared.codes.blobs.read(blob_id)
        headers = [("content-type", "application/zip"), ("content-length", str(len(data)))]
        return HttpResponse(200, headers, b"" if method == "HEAD" else data)


class _Setup:
    """The provider's own preparation, first to start and last to stop: the telemetry writer
    when the provider owns it, the stored reserved concurrency loaded into the limiter, and a
    first collection of unpacked code (trees left by a crash or unused since)."""

    def __init__(self, provider: LambdaProvider) -> None:
        self.provider = provider

    async def run(self, started: Started) -> None:
        p = self.provider
        if p._own_telemetry:
            p.telemetry.start()
        try:
            load_reserved(p.shared.store, p.limiter)
            started()
            p.invoker.collect_at_start()
            await asyncio.Future()
        finally:
            if p._own_telemetry:
                p.telemetry.close()
