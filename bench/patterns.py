"""Event-pattern matching throughput: compiled patterns against typical events, in process.

    python bench/patterns.py [--events 200000] [--repeat 5]

Each figure is the median of --repeat runs over the same pre-built events
(half matching, half not); compile cost is reported separately.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from squall.eventpattern import compile_pattern, sns_attributes_document

CASES: dict[str, tuple[dict[str, Any], str, dict[str, Any], dict[str, Any]]] = {
    "eventbridge 3 keys (exact, nested prefix, numeric)": (
        {
            "source": ["aws.ec2"],
            "detail-type": ["EC2 Instance State-change Notification"],
            "detail": {"state": [{"prefix": "term"}], "cpu": [{"numeric": [">", 0, "<=", 64]}]},
        },
        "eventbridge",
        {
            "source": "aws.ec2",
            "detail-type": "EC2 Instance State-change Notification",
            "region": "us-east-1",
            "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-0"],
            "detail": {"instance-id": "i-0", "state": "terminated", "cpu": 8},
        },
        {
            "source": "aws.ec2",
            "detail-type": "EC2 Instance State-change Notification",
            "region": "us-east-1",
            "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-0"],
            "detail": {"instance-id": "i-0", "state": "running", "cpu": 8},
        },
    ),
    "sns attributes 3 keys (exact, anything-but, numeric)": (
        {
            "store": ["example_corp"],
            "event": [{"anything-but": ["order_cancelled", "order_failed"]}],
            "price_usd": [{"numeric": [">=", 100]}],
        },
        "sns",
        sns_attributes_document(
            {
                "store": {"DataType": "String", "StringValue": "example_corp"},
                "event": {"DataType": "String", "StringValue": "order_placed"},
                "price_usd": {"DataType": "Number", "StringValue": "210.75"},
            }
        ),
        sns_attributes_document(
            {
                "store": {"DataType": "String", "StringValue": "example_corp"},
                "event": {"DataType": "String", "StringValue": "order_failed"},
                "price_usd": {"DataType": "Number", "StringValue": "210.75"},
            }
        ),
    ),
    "lambda sqs body 3 keys (exact, equals-ignore-case, exists)": (
        {
            "body": {
                "kind": ["order"],
                "region": [{"equals-ignore-case": "EU"}],
                "customer": [{"exists": True}],
            }
        },
        "lambda",
        {"messageId": "1", "body": {"kind": "order", "region": "eu", "customer": "c-1"}},
        {"messageId": "2", "body": {"kind": "order", "region": "us", "customer": "c-1"}},
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    for label, (pattern, dialect, hit, miss) in CASES.items():
        t = time.perf_counter()
        for _ in range(1000):
            compiled = compile_pattern(pattern, dialect=dialect)  # type: ignore[arg-type]
        compile_us = (time.perf_counter() - t) * 1000
        events = [hit, miss] * (args.events // 2)
        rates = []
        for _ in range(args.repeat):
            matches = compiled.matches
            t = time.perf_counter()
            hits = sum(1 for e in events if matches(e))
            rates.append(len(events) / (time.perf_counter() - t))
            assert hits == len(events) // 2
        med = statistics.median(rates)
        print(f"{label:<60} {med:>12,.0f} matches/s ({1e6 / med:.2f} us/match), compile {compile_us:.0f} us")


if __name__ == "__main__":
    main()
