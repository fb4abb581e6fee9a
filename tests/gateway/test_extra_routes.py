"""Which requests the gateway hands to a provider's extra route (gateway/extra_routes.py)."""

from __future__ import annotations

from squall.gateway.extra_routes import extra_route_matches
from squall.protocol.types import HttpRequest

ARN = "arn:aws:sns:us-east-1:000000000000:t:0b1c"


def test_path_prefix() -> None:
    assert extra_route_matches("/_squall/sns/", HttpRequest("GET", "/_squall/sns/x.pem"))
    assert not extra_route_matches("/_squall/sns/", HttpRequest("GET", "/other"))


def test_root_link_only_unsigned() -> None:
    # SNS's UnsubscribeURL as AWS hands it out: the endpoint root, fetched by a browser or curl.
    prefix = "/?Action=Unsubscribe&"
    link = HttpRequest("GET", "/", f"Action=Unsubscribe&SubscriptionArn={ARN}")
    assert extra_route_matches(prefix, link)
    assert not extra_route_matches(prefix, HttpRequest("GET", "/bucket", link.query_string))
    assert not extra_route_matches(prefix, HttpRequest("GET", "/", "Action=ListTopics"))
    signed = HttpRequest("GET", "/", link.query_string, {"authorization": "AWS4-HMAC-SHA256 ..."})
    assert not extra_route_matches(prefix, signed)  # a signed Unsubscribe goes through the pipeline
    presigned = HttpRequest("GET", "/", link.query_string + "&X-Amz-Signature=abc")
    assert not extra_route_matches(prefix, presigned)
