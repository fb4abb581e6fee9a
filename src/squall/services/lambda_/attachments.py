"""What attaches to a function: layers, resource policies, event invoke configs and event
source mappings, with their API parts.

`LambdaProvider` builds the `Attachments` with the store, the blob store and the
functions side's `FunctionDirectory`, passes `parts` to `ServiceProvider(*parts)`, hands
`layers` to the functions side as its `LayerResolver`, and gives `policies` (the event
door's resource-policy check), `invoke_configs` (the async path) and `mappings` (the
pollers) to the parts that need them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from squall.services.lambda_.api_esm import EsmApi
from squall.services.lambda_.api_invoke_config import InvokeConfigApi
from squall.services.lambda_.api_layers import LayersApi, UrlSigner
from squall.services.lambda_.api_policy import PolicyApi
from squall.services.lambda_.contracts import FunctionDirectory
from squall.services.lambda_.esm import EventSourceMappings
from squall.services.lambda_.invoke_config import InvokeConfigStore
from squall.services.lambda_.layers import LayerStore
from squall.services.lambda_.policy import PolicyStore
from squall.storage import BlobStore, Store


@dataclass
class Attachments:
    layers: LayerStore
    policies: PolicyStore
    invoke_configs: InvokeConfigStore
    mappings: EventSourceMappings
    parts: list[object] = field(default_factory=list)

    @classmethod
    def build(
        cls, store: Store, blobs: BlobStore, directory: FunctionDirectory, sign_url: UrlSigner | None = None
    ) -> Attachments:
        """`sign_url(endpoint, blob_id)` makes layer versions' `Content.Location` download URLs."""
        layers = LayerStore(store, blobs)
        policies = PolicyStore(store, directory)
        invoke_configs = InvokeConfigStore(store, directory)
        mappings = EventSourceMappings(store, directory)
        parts: list[object] = [
            LayersApi(layers, sign_url),
            PolicyApi(policies),
            InvokeConfigApi(invoke_configs),
            EsmApi(mappings),
        ]
        return cls(layers, policies, invoke_configs, mappings, parts)
