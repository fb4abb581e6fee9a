"""Network namespaces made ahead for EEs: what one holds, and the endpoint URL a function gets."""

from __future__ import annotations

import ctypes
import os
import socket
import threading

import pytest

from squall.engine.netns import RUNTIME_API_PORT, Plan, SpareNamespaces, inside_endpoint

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")


def _inside(fd: int, what):  # type: ignore[no-untyped-def]
    """Run ``what()`` in a thread that has joined the namespace ``fd``."""
    out: list[object] = []

    def run() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        assert libc.setns(fd, 0x40000000) == 0
        out.append(what())

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return out[0]


def _links() -> list[str]:
    return sorted(name for _, name in socket.if_nameindex())


@root_only
@pytest.mark.parametrize("egress", [True, False])
def test_a_namespace_has_loopback_its_listeners_and_a_veth_with_egress(egress: bool) -> None:
    spares = SpareNamespaces(Plan(port=45999, egress=egress), spares=0)
    ns = spares.make()
    try:
        assert ns.runtime_api is not None and ns.runtime_api.getsockname() == ("127.0.0.1", RUNTIME_API_PORT)
        assert ns.endpoint[0].getsockname() == ("127.0.0.1", 45999)
        links = _inside(ns.fd, _links)
        assert links == (["eth0", "lo"] if egress else ["lo"])
        assert (ns.host_link in _links()) is egress  # the veth's other end is on the host
        # The host's loopback is not the namespace's: the host cannot reach the listener there.
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", RUNTIME_API_PORT)) != 0
    finally:
        ns.close()
        spares.close()


@root_only
def test_spares_are_made_ahead_and_taken() -> None:
    spares = SpareNamespaces(Plan(port=45998, egress=False), spares=2)
    try:
        spares.warm()
        first = spares.take()
        second = spares.take()
        assert first.fd != second.fd
        assert os.readlink(f"/proc/self/fd/{first.fd}") != os.readlink(f"/proc/self/fd/{second.fd}")
        first.close()
        second.close()
    finally:
        spares.close()


def test_the_endpoint_a_function_gets() -> None:
    assert inside_endpoint("http://localhost:4566", 4566) == "http://localhost:4566"
    assert inside_endpoint("http://127.0.0.1:4566/", 4566) == "http://127.0.0.1:4566/"
    # An address of the host (not reachable inside) or another port: the loopback URL instead.
    assert inside_endpoint("http://192.0.2.2:4566", 4566) == "http://localhost:4566"
    assert inside_endpoint("http://localhost:9999", 4566) == "http://localhost:4566"
    assert inside_endpoint("https://localhost:4566", 4566) == "http://localhost:4566"
    assert inside_endpoint("http://[bad", 4566) == "http://localhost:4566"


def test_the_isolation_summary_says_where_the_network_stands(monkeypatch: pytest.MonkeyPatch) -> None:
    from squall.engine import host
    from squall.engine.host import CgroupSupport, Isolation

    def isolation(root: bool, net: bool) -> Isolation:
        return Isolation({"net": net}, CgroupSupport(None, (), False), False, False, None, root=root)

    assert "the host's, shared by every EE (not root" in isolation(False, True).network_line()
    assert "no network namespaces here" in isolation(True, False).network_line()
    assert "egress off (loopback only)" in isolation(True, True).network_line(egress=False)
    monkeypatch.setattr(host.shutil, "which", lambda name: None)
    assert "egress off: nft not found" in isolation(True, True).network_line()
    monkeypatch.setattr(host.shutil, "which", lambda name: "/usr/sbin/nft")
    line = isolation(True, True).network_line()
    assert "a namespace per EE" in line and "egress on" in line and "ip_forward" in line
    assert line in isolation(True, True).summary()
