"""DynamoDB: PutItem/s and GetItem/s at 16 connections, and Query latency on a large table.

Starts a Squall server with a throwaway data directory (and, unless --no-baseline, moto's
server side by side), creates the tables with boto3 and drives them with wrk (Debian package
`wrk`). Requests are SigV4-signed with `x-amz-content-sha256: UNSIGNED-PAYLOAD`, so the
Lua script can vary the body: every PutItem writes a new key (a real write, not a no-op
overwrite) and every GetItem/Query picks a random existing key. Figures are medians of
--repeat runs (by requests/s).

    python bench/dynamodb.py [--duration 10] [--connections 16] [--repeat 3] [--items 200000] [--no-baseline]
    python bench/dynamodb.py --query-items 1000000 --ops query --no-baseline

`--items N` fills the query table over HTTP (BatchWriteItem from 4 threads, both servers).
`--query-items N` instead loads Squall's query table in process before the server starts:
the data directory is opened here and the table created and filled through the service's own
code (`TablesApi.create_table`, then `itemstore.write_item` in transactions of 20,000 items),
so the rows, index and figures are exactly what the API writes; moto's (if any) still gets
`--items` over HTTP. `--ops` picks the measurements (put, get, query).
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from harness import Figures, arguments, free_port, squall_server, wait_up, wrk

from squall.services.context import Principal, RequestContext
from squall.services.dynamodb import itemstore
from squall.services.dynamodb.api_tables import TablesApi
from squall.services.dynamodb.catalog import Catalog
from squall.services.dynamodb.values import clean_item_sized
from squall.storage.datadir import DataDir

PARTITION = 100  # items per partition of the query table: a Query returns 100 items
GET_KEYS = 10_000


class _UnsignedPayload(SigV4Auth):
    def payload(self, request: Any) -> str:
        return "UNSIGNED-PAYLOAD"


def signed_headers(url: str, target: str) -> dict[str, str]:
    session = botocore.session.get_session()
    session.set_credentials("test", "test")
    headers = {
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": f"DynamoDB_20120810.{target}",
        "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD",
    }
    req = AWSRequest(method="POST", url=url, data=b"", headers=headers)
    _UnsignedPayload(session.get_credentials(), "dynamodb", "us-east-1").add_auth(req)
    return dict(req.headers.items())


def script(path: Path, headers: dict[str, str], body_lua: str) -> Path:
    """A wrk script whose `request()` builds the body with the Lua expression `body_lua`."""
    lines = ['wrk.method = "POST"', 'wrk.path = "/"']
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items() if k.lower() != "host"]
    lines += [
        "counter = 0",
        "math.randomseed(os.time())",
        "prefix = tostring(math.random(1, 1000000000))",
        "request = function()",
        "  counter = counter + 1",
        f"  return wrk.format(nil, nil, nil, {body_lua})",
        "end",
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def client(endpoint: str) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def table_params(name: str, ranged: bool) -> dict[str, Any]:
    keys = [{"AttributeName": "pk", "KeyType": "HASH"}]
    defs = [{"AttributeName": "pk", "AttributeType": "S"}]
    if ranged:
        keys.append({"AttributeName": "sk", "KeyType": "RANGE"})
        defs.append({"AttributeName": "sk", "AttributeType": "N"})
    return {
        "TableName": name,
        "KeySchema": keys,
        "AttributeDefinitions": defs,
        "BillingMode": "PAY_PER_REQUEST",
    }


def create(ddb: Any, name: str, ranged: bool) -> None:
    ddb.create_table(**table_params(name, ranged))


def big_item(i: int) -> dict[str, Any]:
    return {"pk": {"S": f"p{i // PARTITION}"}, "sk": {"N": str(i)}, "v": {"S": "x" * 20}}


def load_in_process(data_dir: str, name: str, n: int) -> float:
    """Create table `name` and write `n` query-table items into the (not running) server's data
    directory through DynamoDB's own code; returns items/s."""
    root = Principal.root("000000000000")
    ctx = RequestContext("bench", root, "us-east-1", "dynamodb", "CreateTable", "")
    start = time.perf_counter()
    data = DataDir.open(data_dir)
    try:
        catalog = Catalog()
        TablesApi(data.store, catalog).create_table(ctx, table_params(name, ranged=True))
        for first in range(0, n, 20_000):
            with data.store.write() as w:
                table = catalog.get(w, ctx.account_id, ctx.region, name)
                delta = itemstore.StatsDelta()
                for i in range(first, min(n, first + 20_000)):
                    item, size = clean_item_sized(big_item(i))
                    row = itemstore.item_row(table, item)  # every key is new: nothing to read first
                    itemstore.write_item(w, table, row, None, item, delta, new_size=size)
                itemstore.apply_stats(w, table, delta)
    finally:
        data.close()
    return n / (time.perf_counter() - start)


def fill(endpoint: str, name: str, items: list[dict[str, Any]]) -> float:
    """BatchWriteItem of `items` from 4 threads; returns items/s."""
    chunks = [items[i : i + 25] for i in range(0, len(items), 25)]
    clients = [client(endpoint) for _ in range(4)]

    def write(n: int) -> None:
        ddb = clients[n % 4]
        for chunk in chunks[n::4]:
            ddb.batch_write_item(RequestItems={name: [{"PutRequest": {"Item": it}} for it in chunk]})

    start = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(write, range(4)))
    return len(items) / (time.perf_counter() - start)


def measure(
    endpoint: str, tmp: Path, args: Any, label: str, loaded: int = 0, fill_rate: float = 0.0
) -> dict[str, Any]:
    """`loaded`: the query table already holds that many items (load_in_process)."""
    ddb = client(endpoint)
    create(ddb, "kv", ranged=False)
    fill(endpoint, "kv", [{"pk": {"S": f"k{i}"}, "v": {"S": "value"}} for i in range(GET_KEYS)])
    if not loaded:
        create(ddb, "big", ranged=True)
        fill_rate = fill(endpoint, "big", [big_item(i) for i in range(args.items)])
    parts = (loaded or args.items) // PARTITION
    url = endpoint + "/"
    put = script(
        tmp / f"{label}-put.lua",
        signed_headers(url, "PutItem"),
        """string.format('{"TableName":"kv","Item":{"pk":{"S":"n%s-%d"},"v":{"S":"value"}}}', prefix, counter)""",
    )
    get = script(
        tmp / f"{label}-get.lua",
        signed_headers(url, "GetItem"),
        f"""string.format('{{"TableName":"kv","Key":{{"pk":{{"S":"k%d"}}}}}}', math.random(0, {GET_KEYS - 1}))""",
    )
    query = script(
        tmp / f"{label}-query.lua",
        signed_headers(url, "Query"),
        """string.format('{"TableName":"big","KeyConditionExpression":"pk = :p",'"""
        f"""..'"ExpressionAttributeValues":{{":p":{{"S":"p%d"}}}}}}', math.random(0, {parts - 1}))""",
    )
    check = ddb.query(
        TableName="big", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "p1"}}
    )
    assert check["Count"] == PARTITION, check["Count"]
    conns = args.connection_counts
    ops = args.ops.split(",")
    return {
        "fill": fill_rate,
        "loaded": loaded,
        "put": {c: wrk(url, put, c, args.duration, args.repeat) for c in conns} if "put" in ops else {},
        "get": {c: wrk(url, get, c, args.duration, args.repeat) for c in conns} if "get" in ops else {},
        "query": wrk(url, query, 1, args.duration, args.repeat) if "query" in ops else None,
        "big_items": ddb.describe_table(TableName="big")["Table"]["ItemCount"],
        "kv_items": ddb.describe_table(TableName="kv")["Table"]["ItemCount"],
    }


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        wait_up(f"http://127.0.0.1:{port}/moto-api/")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def report(label: str, r: dict[str, Any], conns: list[int]) -> None:
    how = "in process, the service's own write path" if r["loaded"] else "BatchWriteItem, 4 threads"
    print(f"{label}: filled the query table ({r['big_items']} items) at {r['fill']:.0f} items/s ({how})")
    for c in conns:
        for op in ("put", "get"):
            if c not in r[op]:
                continue
            f: Figures = r[op][c]
            print(
                f"  {op.capitalize()}Item  connections={c:>3}  requests/s={float(f['rps']):>8.0f}  "
                f"p50={f['p50']}  p99={f['p99']}  non-2xx={f['non2xx']}"
            )
    q = r["query"]
    if q is None:
        return
    print(
        f"  Query (100 items)  connections=  1  requests/s={float(q['rps']):>8.0f}  p50={q['p50']}  p99={q['p99']}"
    )
    print(f"  kv table ItemCount after the PutItem runs: {r['kv_items']}")


def main() -> None:
    args = arguments(
        "DynamoDB PutItem/GetItem throughput and Query latency",
        items="200000",
        ops="put,get,query",
        query_items="0",
    )
    args.items = int(args.items)
    loaded = int(args.query_items)
    if args.connections == "1,16":
        args.connection_counts = [16]
    with tempfile.TemporaryDirectory() as tmp:
        rate = load_in_process(f"{tmp}/data", "big", loaded) if loaded else 0.0
        with squall_server(f"{tmp}/data", args.workers, args.profile) as endpoint:
            squall = measure(endpoint, Path(tmp), args, "squall", loaded, rate)
        report(f"squall ({loaded or args.items} items in the query table)", squall, args.connection_counts)
        if not args.no_baseline:
            with moto_server() as endpoint:
                moto = measure(endpoint, Path(tmp), args, "moto")
            report(f"moto ({args.items} items in the query table)", moto, args.connection_counts)


if __name__ == "__main__":
    main()
