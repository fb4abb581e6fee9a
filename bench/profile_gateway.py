"""In-process CPU time (process_time) per request through the Gateway ASGI app (no sockets, no uvicorn).

Builds a real server (`squall.server.build`) on a throwaway data directory, then feeds
botocore-signed requests (tests/protocol/wire.py `request_for`) straight into the ASGI
callable and reports microseconds per request for each operation; `--profile OP` prints
a cProfile of that operation's loop. PresignedPut/PresignedGet replay a SigV4 presigned
URL for a 1 KB object with only the headers wrk sends (as bench/s3.py does).

    python bench/profile_gateway.py [--n 3000] [--profile PutItem] [--sort tottime] [--invoke]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import botocore.config
import botocore.session
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from squall.config import Settings
from squall.lib.tasks import running
from squall.protocol.types import HttpRequest
from squall.server import build
from tests.protocol.wire import ENDPOINT, request_for

TABLE = "bench"
BUCKET = "bench"
QUEUE_URL = "http://localhost:4566/000000000000/bench"


def _scope(req: HttpRequest) -> dict[str, Any]:
    return {
        "type": "http",
        "method": req.method,
        "path": req.path,
        "raw_path": req.path.encode(),
        "query_string": req.query_string.encode(),
        "headers": [(k.encode(), v.encode()) for k, v in req.headers.items()],
    }


async def _call(app: Any, req: HttpRequest) -> int:
    scope = _scope(req)
    sent = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": req.body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


def _presigned(method: str, operation: str, key: str, body: bytes = b"") -> HttpRequest:
    """A presigned (SigV4 query-auth) URL as bench/s3.py builds it, sent the way wrk sends it."""
    s3 = botocore.session.get_session().create_client(
        "s3", region_name="us-east-1", endpoint_url=ENDPOINT, aws_access_key_id="test",
        aws_secret_access_key="test", config=botocore.config.Config(signature_version="s3v4"),
    )  # fmt: skip
    url = s3.generate_presigned_url(operation, Params={"Bucket": BUCKET, "Key": key}, ExpiresIn=3600)
    path, _, query = url[len(ENDPOINT) :].partition("?")
    headers = {"host": ENDPOINT.split("//", 1)[1]}
    if body:
        headers["content-length"] = str(len(body))
    return HttpRequest(method=method, path=path, query_string=query, headers=headers, body=body)


def _requests() -> dict[str, HttpRequest]:
    item = {
        "pk": {"S": "user#1"},
        "name": {"S": "Ada Lovelace"},
        "age": {"N": "36"},
        "tags": {"SS": ["a", "b"]},
        "profile": {"M": {"city": {"S": "London"}, "langs": {"L": [{"S": "en"}, {"S": "fr"}]}}},
    }
    entries = [{"Id": str(i), "MessageBody": f"message {i} " + "x" * 100} for i in range(10)]
    return {
        "GetCallerIdentity": request_for("sts", "GetCallerIdentity", {}),
        "PutItem": request_for("dynamodb", "PutItem", {"TableName": TABLE, "Item": item}),
        "GetItem": request_for("dynamodb", "GetItem", {"TableName": TABLE, "Key": {"pk": {"S": "user#1"}}}),
        "SendMessageBatch": request_for(
            "sqs",
            "SendMessageBatch",
            {"QueueUrl": "http://localhost:4566/000000000000/bench", "Entries": entries},
        ),
        "GetFunction": request_for("lambda", "GetFunction", {"FunctionName": "nope"}),
        "PutObject": request_for("s3", "PutObject", {"Bucket": BUCKET, "Key": "k/1", "Body": b"x" * 1024}),
        "PresignedPut": _presigned("PUT", "put_object", "obj/00001", b"x" * 1024),
        "PresignedGet": _presigned("GET", "get_object", "obj/00001"),
    }


async def _setup(app: Any) -> None:
    create = request_for(
        "dynamodb",
        "CreateTable",
        {
            "TableName": TABLE,
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
        },
    )
    assert await _call(app, create) == 200
    assert await _call(app, request_for("sqs", "CreateQueue", {"QueueName": "bench"})) == 200
    assert await _call(app, request_for("s3", "CreateBucket", {"Bucket": BUCKET})) == 200


async def _sqs_cycle(app: Any, send: HttpRequest, n: int) -> float:
    """us per message of SendMessageBatch + ReceiveMessage(10) + DeleteMessageBatch, n batches."""
    receive = request_for(
        "sqs", "ReceiveMessage", {"QueueUrl": QUEUE_URL, "MaxNumberOfMessages": 10, "VisibilityTimeout": 30}
    )
    scope = _scope(receive)
    elapsed = 0.0
    for _ in range(n):
        start = time.process_time()
        await _call(app, send)
        body = await _call_body(app, scope, receive.body)
        handles = [m["ReceiptHandle"] for m in orjson.loads(body).get("Messages", [])]
        entries = [{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(handles)]
        elapsed += time.process_time() - start
        delete = request_for("sqs", "DeleteMessageBatch", {"QueueUrl": QUEUE_URL, "Entries": entries})
        start = time.process_time()
        assert await _call(app, delete) == 200
        elapsed += time.process_time() - start
    return elapsed / (n * 10) * 1e6


async def _call_body(app: Any, scope: dict[str, Any], body: bytes) -> bytes:
    chunks: list[bytes] = []
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return b"".join(chunks)


async def _function(app: Any) -> HttpRequest:
    """A warm trivial Python function; returns its signed Invoke request."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", "def handler(event, context):\n    return {'ok': True}\n")
    create = request_for(
        "lambda",
        "CreateFunction",
        {
            "FunctionName": "bench",
            "Runtime": "python3.11",
            "Role": "arn:aws:iam::000000000000:role/bench",
            "Handler": "app.handler",
            "Code": {"ZipFile": buf.getvalue()},
        },
    )
    assert await _call(app, create) == 201
    get = request_for("lambda", "GetFunctionConfiguration", {"FunctionName": "bench"})
    invoke = request_for("lambda", "Invoke", {"FunctionName": "bench", "Payload": b"{}"})
    for _ in range(600):
        await asyncio.sleep(0.05)
        if await _call(app, invoke) == 200:
            return invoke
        await _call(app, get)
    raise RuntimeError("function never became invocable")


async def _loop(app: Any, req: HttpRequest, n: int) -> float:
    start = time.process_time()
    for _ in range(n):
        await _call(app, req)
    return (time.process_time() - start) / n * 1e6


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = build(Settings(data_dir=Path(tmp)))
        try:
            app = server.gateway
            async with running(*(c for provider in app.services for c in provider.background())):
                await measure(app, args)
        finally:
            server.close()


async def measure(app: Any, args: argparse.Namespace) -> None:
    await _setup(app)
    reqs = _requests()
    if args.invoke:
        reqs["Invoke"] = await _function(app)
    for name, req in reqs.items():
        assert await _call(app, req) in (200, 404), name
    if (not args.profile and (not args.only or "SqsCycle" in args.only)) or args.profile == "SqsCycle":
        send = reqs["SendMessageBatch"]
        await _sqs_cycle(app, send, 20)
        runs = sorted([await _sqs_cycle(app, send, args.n // 20) for _ in range(args.repeat)])
        print(f"{'SqsCycle/msg':20s} {runs[len(runs) // 2]:8.1f} us/message, best {runs[0]:.1f}")
        if args.profile == "SqsCycle":
            prof = cProfile.Profile()
            prof.enable()
            await _sqs_cycle(app, send, args.n // 20)
            prof.disable()
            pstats.Stats(prof).sort_stats(args.sort).print_stats(args.limit)
    for name, req in reqs.items():
        if (args.profile and name != args.profile) or (args.only and name not in args.only):
            continue
        await _loop(app, req, 200)
        runs = sorted([await _loop(app, req, args.n) for _ in range(args.repeat)])
        print(
            f"{name:20s} {runs[len(runs) // 2]:8.1f} us/request, best {runs[0]:.1f} (runs {', '.join(f'{r:.1f}' for r in runs)})"
        )
        if args.profile == name and name != "SqsCycle":
            prof = cProfile.Profile()
            prof.enable()
            await _loop(app, req, args.n)
            prof.disable()
            pstats.Stats(prof).sort_stats(args.sort).print_stats(args.limit)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--profile", default="")
    ap.add_argument("--only", nargs="*", default=[], help="operations to measure (SqsCycle, PutObject, ...)")
    ap.add_argument("--sort", default="tottime")
    ap.add_argument("--limit", type=int, default=40)
    ap.add_argument("--invoke", action="store_true", help="also a warm Lambda Invoke (starts the engine)")
    asyncio.run(main(ap.parse_args()))
