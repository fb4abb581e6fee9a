"""A function configuration's `Layers`, unpacked for the engine (`FunctionConfig.layer_dirs`).

Each layer version's zip is unpacked once into the engine's `CodeCache`
(keyed by the version's content blob, which never changes: the tree is named
``layer<blob id>``) and the directories are handed over in the
configuration's order: the engine stacks them at /opt, later layers over
earlier ones, as AWS extracts them in order. A layer version's content is
immutable, so the ARN -> blob answer is remembered; a version deleted after a
function referenced it keeps working for that function, as on AWS. The
directory itself is asked of the cache each time (`CodeCache.path`): the
cache may have collected an unused tree since, and unpacks it again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from squall.engine.codecache import CodeCache
from squall.services.lambda_.contracts import LayerResolver


class LayerDirs:
    def __init__(self, layers: Callable[[], LayerResolver | None], read_blob: Callable[[str], bytes]) -> None:
        self._layers = layers
        self._read_blob = read_blob
        self._blobs: dict[str, str] = {}

    def resolve(self, config: dict[str, Any], codes: CodeCache) -> tuple[str, ...]:
        """The unpacked directories of ``config["Layers"]``, in order (unpacking any missing; blocking)."""
        return tuple(self._dir(arn, codes) for arn in arns_of(config))

    def names(self, arns: Sequence[str]) -> tuple[str, ...]:
        """The cache names of the layer versions ``arns`` (no unpacking)."""
        return tuple("layer" + self.blob(arn) for arn in arns)

    def blob(self, arn: str) -> str:
        found = self._blobs.get(arn)
        if found is None:
            resolver = self._layers()
            if resolver is None:
                raise LookupError(f"no layer resolver for {arn}")
            found = self._blobs[arn] = resolver.content_blob(arn)
        return found

    def _dir(self, arn: str, codes: CodeCache) -> str:
        blob = self.blob(arn)
        return codes.path("layer" + blob, lambda: self._read_blob(blob))


def arns_of(config: dict[str, Any]) -> list[str]:
    return [str(layer["Arn"]) for layer in config.get("Layers") or []]
