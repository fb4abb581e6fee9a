"""Wiring for the parts that hang off functions: layers, resource policies, event
invoke configs and event source mappings.

The integrator builds a `Periph` with the store, the blob
store and the functions part's `FunctionDirectory`, passes `parts` to the Lambda
provider (`ServiceProvider(*parts)`), hands `layers` to the functions part as its
`LayerResolver`, and gives `policies.allows` / `invoke_configs.find` /
`mappings.active` to the engine and the event sources. The provider's `start()`
may call `mappings.settle()` to write back completed state transitions.
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
class Periph:
    layers: LayerStore
    policies: PolicyStore
    invoke_configs: InvokeConfigStore
    mappings: EventSourceMappings
    parts: list[object] = field(default_factory=list)

    @classmethod
    def build(
        cls, store: Store, blobs: BlobStore, directory: FunctionDirectory, sign_url: UrlSigner | None = None
    ) -> Periph:
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
