from __future__ import annotations

import base64
import json

from squall.eventpattern import compile_pattern, lambda_record_document, sns_attributes_document


def test_sns_attributes_document_types() -> None:
    doc = sns_attributes_document(
        {
            "s": {"DataType": "String", "StringValue": "hello"},
            "n": {"DataType": "Number", "StringValue": "42"},
            "f": {"DataType": "Number.float", "StringValue": "1.5"},
            "arr": {"DataType": "String.Array", "StringValue": '["a", 2, true]'},
            "bad": {"DataType": "String.Array", "StringValue": "[oops"},
            "bin": {"DataType": "Binary", "BinaryValue": "AAE="},
            "env": {"Type": "String", "Value": "from-envelope"},
        }
    )
    assert doc == {
        "s": "hello",
        "n": 42,
        "f": 1.5,
        "arr": ["a", 2, True],
        "bad": "[oops",
        "env": "from-envelope",
    }


def test_sns_binary_counts_as_absent() -> None:
    doc = sns_attributes_document({"bin": {"DataType": "Binary", "BinaryValue": "AAE="}})
    assert compile_pattern({"bin": [{"exists": False}]}, dialect="sns").matches(doc)


def test_lambda_sqs_body_parsed_when_json() -> None:
    record = {"messageId": "1", "body": json.dumps({"kind": "order", "n": 3}), "eventSource": "aws:sqs"}
    doc = lambda_record_document(record)
    assert doc["body"] == {"kind": "order", "n": 3}
    assert record["body"].startswith("{")  # the record itself is untouched
    assert compile_pattern({"body": {"n": [{"numeric": [">", 2]}]}}, dialect="lambda").matches(doc)
    plain = lambda_record_document({"body": "just text"})
    assert plain["body"] == "just text"
    assert lambda_record_document({"body": "7"})["body"] == "7"


def test_lambda_kinesis_data_decoded() -> None:
    data = base64.b64encode(json.dumps({"Temperature": 35}).encode()).decode()
    doc = lambda_record_document(
        {"kinesis": {"partitionKey": "1", "data": data}, "eventSource": "aws:kinesis"}
    )
    assert doc["data"] == {"Temperature": 35}
    assert compile_pattern({"data": {"Temperature": [{"numeric": [">", 30]}]}}, dialect="lambda").matches(doc)
    text = base64.b64encode(b"plain").decode()
    assert lambda_record_document({"kinesis": {"data": text}})["data"] == "plain"
