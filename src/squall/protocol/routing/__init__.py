"""Building blocks of `squall.protocol.router`: request hints, the REST
template table and the lookup catalog compiled from botocore's models."""
