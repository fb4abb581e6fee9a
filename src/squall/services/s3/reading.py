"""Reading objects: the body as a stream of file pieces, Range and conditional headers."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from datetime import datetime

from squall.protocol.errors import ServiceError
from squall.services.s3.bodies import is_inline
from squall.services.s3.data import S3Data
from squall.services.s3.models import ObjectVersion

PIECE = 1 << 20
_RANGE = re.compile(r"bytes=(\d*)-(\d*)\Z")


class BodyStream:
    """`length` bytes of an object from `offset`, read from its part blobs in
    PIECE-sized reads (never the whole object in memory). The files are opened
    (and inline bodies, at most INLINE_MAX bytes each, read) up front, so a
    version deleted meanwhile is still read in full."""

    def __init__(
        self,
        data: S3Data,
        parts: list[tuple[str, int]],
        offset: int,
        length: int,
        status: int | None = None,
        inline: dict[str, bytes] | None = None,
    ) -> None:
        """`inline`: bodies already read (by id), for inline parts found there."""
        self.length = length
        self.status = status
        self._spans: list[tuple[int | bytes, int, int]] = []  # (fd or inline bytes, start, count)
        try:
            position = 0
            for blob_id, size in parts:
                start = max(offset - position, 0)
                end = min(offset + length - position, size)
                if end > start:
                    if is_inline(blob_id):
                        found = inline.get(blob_id) if inline else None
                        if found is None:
                            found = data.inline_body(blob_id)
                        self._spans.append((found, start, end - start))
                    else:
                        fd = os.open(data.blobs.path(blob_id), os.O_RDONLY)
                        self._spans.append((fd, start, end - start))
                position += size
        except BaseException:
            self._close_fds()
            raise

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._pieces()

    async def _pieces(self) -> AsyncIterator[bytes]:
        for source, start, count in self._spans:
            if isinstance(source, bytes):
                if len(source) < start + count:
                    raise OSError("inline body shorter than recorded")
                yield source[start : start + count]
                continue
            fd = source
            position, end = start, start + count
            while position < end:
                piece = os.pread(fd, min(PIECE, end - position), position)
                if not piece:
                    raise OSError("blob shorter than recorded")
                position += len(piece)
                yield piece

    async def aclose(self) -> None:
        self._close_fds()

    def _close_fds(self) -> None:
        for source, _, _ in self._spans:
            if isinstance(source, int):
                os.close(source)
        self._spans = []


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """(first, last) inclusive for a `bytes=` Range over `size` bytes; None when
    the header is to be ignored (malformed or several ranges, as S3 does);
    InvalidRange when unsatisfiable."""
    match = _RANGE.match(header.strip())
    if match is None:
        return None
    first_raw, last_raw = match.groups()
    if not first_raw and not last_raw:
        return None
    if not first_raw:  # suffix: the last N bytes
        n = int(last_raw)
        if n == 0 or size == 0:
            raise invalid_range(header, size)
        return max(size - n, 0), size - 1
    first = int(first_raw)
    last = int(last_raw) if last_raw else size - 1
    if last_raw and last < first:
        return None
    if first >= size:
        raise invalid_range(header, size)
    return first, min(last, size - 1)


def invalid_range(header: str, size: int) -> ServiceError:
    return ServiceError(
        "InvalidRange",
        "The requested range is not satisfiable",
        416,
        fields={"RangeRequested": header, "ActualObjectSize": size},
        headers={"Content-Range": f"bytes */{size}"},
    )


def check_conditions(params: dict[str, object], version: ObjectVersion, prefix: str = "If") -> None:
    """If-Match / If-None-Match / If-Modified-Since / If-Unmodified-Since, with
    S3's precedence (a true If-Match overrides a false If-Unmodified-Since; a false
    If-None-Match overrides a true If-Modified-Since). `prefix` "CopySourceIf"
    checks CopyObject's x-amz-copy-source-if-* (always 412)."""
    etag = version.etag
    modified = int(version.last_modified)
    match = params.get(f"{prefix}Match")
    none_match = params.get(f"{prefix}NoneMatch")
    since = params.get(f"{prefix}ModifiedSince")
    unmodified = params.get(f"{prefix}UnmodifiedSince")
    copy = prefix != "If"
    if match is not None:
        if not _etag_matches(str(match), etag):
            raise precondition_failed(f"{prefix}Match")
    elif isinstance(unmodified, datetime) and modified > unmodified.timestamp():
        raise precondition_failed(f"{prefix}UnmodifiedSince")
    if none_match is not None:
        if _etag_matches(str(none_match), etag):
            if copy:
                raise precondition_failed(f"{prefix}NoneMatch")
            raise not_modified(version)
    elif isinstance(since, datetime) and modified <= since.timestamp():
        if copy:
            raise precondition_failed(f"{prefix}ModifiedSince")
        raise not_modified(version)


def _etag_matches(header: str, etag: str) -> bool:
    wanted = [t.strip() for t in header.split(",")]
    return any(t == "*" or t.strip('"') == etag.strip('"') for t in wanted)


def precondition_failed(condition: str) -> ServiceError:
    wire = {
        "IfMatch": "If-Match", "IfUnmodifiedSince": "If-Unmodified-Since", "IfNoneMatch": "If-None-Match",
        "IfModifiedSince": "If-Modified-Since",
    }.get(condition, condition)  # fmt: skip
    return ServiceError(
        "PreconditionFailed",
        "At least one of the pre-conditions you specified did not hold",
        412,
        fields={"Condition": wire},
    )


def not_modified(version: ObjectVersion) -> ServiceError:
    return ServiceError("NotModified", "Not Modified", 304, headers={"ETag": version.etag})
