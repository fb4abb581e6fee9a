"""TagResource, UntagResource, ListTags on functions."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.services.lambda_.helpers import create


def test_tags(server) -> None:  # type: ignore[no-untyped-def]
    lam = server.client("lambda")
    fn = create(lam, Tags={"a": "1"})
    arn = fn["FunctionArn"]
    assert lam.list_tags(Resource=arn)["Tags"] == {"a": "1"}
    lam.tag_resource(Resource=arn, Tags={"b": "2", "a": "one"})
    assert lam.list_tags(Resource=arn)["Tags"] == {"a": "one", "b": "2"}
    lam.untag_resource(Resource=arn, TagKeys=["a", "missing"])
    assert lam.list_tags(Resource=arn)["Tags"] == {"b": "2"}
    assert lam.get_function(FunctionName=arn)["Tags"] == {"b": "2"}
    with pytest.raises(ClientError) as exc:
        lam.list_tags(Resource=arn + ":1")
    assert exc.value.response["Error"]["Code"] == "InvalidParameterValueException"
    with pytest.raises(ClientError) as exc:
        lam.tag_resource(Resource=arn + "-missing", Tags={"x": "y"})
    assert exc.value.response["Error"]["Code"] == "ResourceNotFoundException"
