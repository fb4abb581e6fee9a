"""The Lambda provider: the operation parts composed into one `ServiceProvider`.

Parts on the functions side: functions, versions and updates, aliases,
concurrency, tags. The parts hanging off a function (layers, permissions,
event invoke configs, event source mappings) come from `periph.Periph`, built
over the functions' `Directory`; its `LayerStore` is the functions'
`LayerResolver` (a test may pass another as `layers`).
"""

from __future__ import annotations

from pathlib import Path

from squall.engine.pool import KEEP_ALIVE_S, PoolManager
from squall.observability import Telemetry
from squall.protocol.types import HttpResponse
from squall.services.base import ServiceProvider
from squall.services.lambda_.aliases import AliasesApi
from squall.services.lambda_.api_functions import FunctionsApi
from squall.services.lambda_.code import URL_PREFIX, CodeStore
from squall.services.lambda_.concurrency import ConcurrencyApi
from squall.services.lambda_.contracts import LayerResolver
from squall.services.lambda_.deps import Deps
from squall.services.lambda_.functions import Directory
from squall.services.lambda_.invoke import InvokeApi
from squall.services.lambda_.invoker import Invoker
from squall.services.lambda_.lifecycle import Lifecycle
from squall.services.lambda_.periph import Periph
from squall.services.lambda_.tags import TagsApi
from squall.services.lambda_.versions import VersionsApi
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
        telemetry: Telemetry | None = None,
    ) -> None:
        # Without a shared `Telemetry` (a provider built alone in a test) it owns one.
        self._own_telemetry = telemetry is None
        self.telemetry = telemetry or Telemetry(store)
        codes = CodeStore(store, blobs)
        directory = Directory(store)
        self.periph = Periph.build(store, blobs, directory, sign_url=codes.presigned_blob_url)
        self.deps = Deps(store, codes, Lifecycle(store, codes), directory, layers or self.periph.layers)
        self.tags = TagsApi(self.deps)
        self.pools = PoolManager(keep_alive_s=keep_alive_s)
        self.invoker = Invoker(self.deps, self.pools, code_root, self.telemetry)
        super().__init__(
            FunctionsApi(self.deps),
            VersionsApi(self.deps),
            AliasesApi(self.deps),
            ConcurrencyApi(self.deps),
            self.tags,
            InvokeApi(self.invoker),
            *self.periph.parts,
        )

    @property
    def directory(self) -> Directory:
        """The `FunctionDirectory` for the parts that hang off a function."""
        return self.deps.directory

    def set_layer_resolver(self, layers: LayerResolver) -> None:
        self.deps.layers = layers

    async def start(self) -> None:
        if self._own_telemetry:
            self.telemetry.start()
        await self.deps.lifecycle.start()
        await self.pools.start()

    async def stop(self) -> None:
        await self.pools.stop()
        await self.deps.lifecycle.stop()
        if self._own_telemetry:
            self.telemetry.close()

    # -- the code download route (GetFunction's Code.Location) ------------------------------

    route_prefix = URL_PREFIX

    def serve_code(self, method: str, path: str, query_string: str) -> HttpResponse:
        blob_id = self.deps.codes.verify_url(path, query_string)
        if blob_id is None:
            body = b"<Error><Code>AccessDenied</Code><Message>Request has expired or the signature is invalid</Message></Error>"
            return HttpResponse(403, [("content-type", "application/xml")], body)
        data = self.deps.codes.blobs.read(blob_id)
        headers = [("content-type", "application/zip"), ("content-length", str(len(data)))]
        return HttpResponse(200, headers, b"" if method == "HEAD" else data)
