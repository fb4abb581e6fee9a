"""A function configuration's `Layers`, unpacked for the engine (`FunctionConfig.layer_dirs`).

Each layer version's zip is unpacked once into the engine's `CodeCache`
(keyed by the version's content blob, which never changes) and the
directories are handed over in the configuration's order: the engine stacks
them at /opt, later layers over earlier ones, as AWS extracts them in order.
A layer version's content is immutable, so the ARN -> directory answer is
remembered; a version deleted after a function referenced it keeps working
for that function, as on AWS.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from squall.engine.codecache import CodeCache
from squall.services.lambda_.contracts import LayerResolver


class LayerDirs:
    def __init__(self, layers: Callable[[], LayerResolver | None], read_blob: Callable[[str], bytes]) -> None:
        self._layers = layers
        self._read_blob = read_blob
        self._known: dict[str, str] = {}

    def resolve(self, config: dict[str, Any], codes: CodeCache) -> tuple[str, ...]:
        """The unpacked directories of ``config["Layers"]``, in order (unpacking any not seen yet)."""
        arns = [str(layer["Arn"]) for layer in config.get("Layers") or []]
        return tuple(self._dir(arn, codes) for arn in arns)

    def _dir(self, arn: str, codes: CodeCache) -> str:
        found = self._known.get(arn)
        if found is not None:
            return found
        resolver = self._layers()
        if resolver is None:
            raise LookupError(f"no layer resolver for {arn}")
        blob = resolver.content_blob(arn)
        path = codes.path("layer" + blob, lambda: self._read_blob(blob))
        self._known[arn] = path
        return path
