"""Each implemented Lambda operation whose AWS API reference gives a status other than 200 answers
with it through the real server (the codes are botocore's `http.responseCode`, taken from those
pages; DeleteFunction's 204 is API_DeleteFunction.html's "HTTP/1.1 204", carried by the output's
statusCode member). The audit: docs/audits/response-codes.md."""

from __future__ import annotations

from typing import Any

from tests.conftest import RunningServer
from tests.services.lambda_.helpers import create, make_zip, publish, unique


def status(out: dict[str, Any]) -> int:
    return int(out["ResponseMetadata"]["HTTPStatusCode"])


def test_lambda_operations_answer_their_modelled_status(server: RunningServer) -> None:
    lam, sqs = server.client("lambda"), server.client("sqs")
    name = unique("codes")
    assert status(create(lam, name)) == 201  # CreateFunction
    arn = lam.get_function_configuration(FunctionName=name)["FunctionArn"]
    version = publish(lam, name)  # PublishVersion 201, checked below on a second publish
    lam.update_function_configuration(FunctionName=name, Description="v2")
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    assert status(lam.publish_version(FunctionName=name)) == 201
    assert status(lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)) == 201
    assert status(lam.delete_alias(FunctionName=name, Name="live")) == 204
    permission = {"FunctionName": name, "StatementId": "s3"}
    assert (
        status(lam.add_permission(**permission, Action="lambda:InvokeFunction", Principal="s3.amazonaws.com"))
        == 201
    )
    assert status(lam.remove_permission(**permission)) == 204
    assert status(lam.tag_resource(Resource=arn, Tags={"a": "1"})) == 204
    assert status(lam.untag_resource(Resource=arn, TagKeys=["a"])) == 204
    assert status(lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=2)) == 200
    assert status(lam.delete_function_concurrency(FunctionName=name)) == 204
    assert status(lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)) == 200
    assert status(lam.delete_function_event_invoke_config(FunctionName=name)) == 204
    pc = {"FunctionName": name, "Qualifier": version}
    assert status(lam.put_provisioned_concurrency_config(**pc, ProvisionedConcurrentExecutions=1)) == 202
    assert status(lam.delete_provisioned_concurrency_config(**pc)) == 204

    url = sqs.create_queue(QueueName=unique("codes-q"))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    mapping = lam.create_event_source_mapping(FunctionName=name, EventSourceArn=queue_arn, Enabled=False)
    assert status(mapping) == 202
    assert status(lam.update_event_source_mapping(UUID=mapping["UUID"], BatchSize=5)) == 202
    assert status(lam.delete_event_source_mapping(UUID=mapping["UUID"])) == 202

    layer = unique("codes-layer")
    published = lam.publish_layer_version(LayerName=layer, Content={"ZipFile": make_zip()})
    assert status(published) == 201
    grant = {"LayerName": layer, "VersionNumber": published["Version"], "StatementId": "all"}
    assert (
        status(lam.add_layer_version_permission(**grant, Action="lambda:GetLayerVersion", Principal="*"))
        == 201
    )
    assert status(lam.remove_layer_version_permission(**grant)) == 204
    assert status(lam.delete_layer_version(LayerName=layer, VersionNumber=published["Version"])) == 204

    out = lam.delete_function(FunctionName=name)
    assert status(out) == 204 and out["StatusCode"] == 204
