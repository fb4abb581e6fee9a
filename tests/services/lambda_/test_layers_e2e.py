"""Layers end to end on the real server, including `Layers` on a real function."""

from __future__ import annotations

import pytest

from tests.conftest import start_server
from tests.services.lambda_.attachment_e2e import create_function, layer_zip


def test_layer_on_a_function(server) -> None:
    c = server.client("lambda")
    layer = c.publish_layer_version(
        LayerName="e2e-helpers", Content={"ZipFile": layer_zip()}, CompatibleRuntimes=["python3.12"]
    )
    name = create_function(c, "lay", Layers=[layer["LayerVersionArn"]])
    cfg = c.get_function_configuration(FunctionName=name)
    assert cfg["Layers"] == [{"Arn": layer["LayerVersionArn"], "CodeSize": layer["Content"]["CodeSize"]}]
    with pytest.raises(c.exceptions.InvalidParameterValueException):
        c.update_function_configuration(FunctionName=name, Layers=[layer["LayerVersionArn"][:-1] + "99"])
    # deleting the version keeps it working for the function that already uses it
    c.delete_layer_version(LayerName="e2e-helpers", VersionNumber=layer["Version"])
    assert c.get_function_configuration(FunctionName=name)["Layers"][0]["Arn"] == layer["LayerVersionArn"]
    assert c.publish_layer_version(LayerName="e2e-helpers", Content={"ZipFile": layer_zip()})["Version"] == (
        layer["Version"] + 1
    )


def test_layers_survive_restart(tmp_path) -> None:
    srv = start_server(tmp_path / "data")
    try:
        c = srv.client("lambda")
        out = c.publish_layer_version(LayerName="kept", Content={"ZipFile": layer_zip()})
    finally:
        srv.stop()
    srv = start_server(tmp_path / "data")
    try:
        got = srv.client("lambda").get_layer_version_by_arn(Arn=out["LayerVersionArn"])
        assert got["Content"]["CodeSha256"] == out["Content"]["CodeSha256"]
    finally:
        srv.stop()


def test_layer_content_location_downloads_the_zip(server) -> None:
    import urllib.error
    import urllib.request

    c = server.client("lambda")
    data = layer_zip()
    published = c.publish_layer_version(LayerName="downloadable", Content={"ZipFile": data})
    for out in (
        published,
        c.get_layer_version(LayerName="downloadable", VersionNumber=published["Version"]),
        c.get_layer_version_by_arn(Arn=published["LayerVersionArn"]),
    ):
        location = out["Content"]["Location"]
        # the URL names the server the way the client reached it
        assert location.startswith(f"{server.endpoint}/_squall/lambda/code/")
        with urllib.request.urlopen(location) as resp:
            assert resp.read() == data
    tampered = location[:-4] + "0000"
    try:
        urllib.request.urlopen(tampered)
        raise AssertionError("a tampered URL was served")
    except urllib.error.HTTPError as err:
        assert err.code == 403
