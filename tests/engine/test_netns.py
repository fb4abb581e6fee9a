"""Network namespaces made ahead for EEs: what one holds, and the endpoint URL a function gets."""

from __future__ import annotations

import asyncio
import ctypes
import os
import socket
import threading

import pytest

from squall.engine.dns_relay import DnsRelay
from squall.engine.netns import (
    RUNTIME_API_PORT,
    Plan,
    SpareNamespaces,
    inside_endpoint,
    loopback_nameservers,
)

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


@root_only
def test_a_namespace_given_back_is_reused_only_once_its_ee_is_gone() -> None:
    import subprocess
    import time

    spares = SpareNamespaces(Plan(port=45997, egress=False), spares=1)
    try:
        ns = spares.take()
        identity = os.readlink(f"/proc/self/fd/{ns.fd}")
        old_listener = ns.endpoint[0]
        ee = subprocess.Popen(["sleep", "30"])  # stands in for the EE's pid 1
        spares.give_back(ns, ee.pid)
        assert old_listener.fileno() == -1  # its sockets are closed at once
        time.sleep(0.2)  # the thread has looked several times meanwhile (every 20 ms)
        reused = [os.readlink(f"/proc/self/fd/{n.fd}") for n in list(spares._ready)]
        assert identity not in reused  # never while a process of the EE may be in it
        ee.kill()
        ee.wait()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            found = [n for n in list(spares._ready) if os.readlink(f"/proc/self/fd/{n.fd}") == identity]
            if found:
                break
            time.sleep(0.01)
        assert found, "the namespace was not reused"
        again = found[0]
        assert again.runtime_api is not None and again.runtime_api.fileno() != -1  # new listeners
        assert again.endpoint and again.endpoint[0] is not old_listener
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


def test_loopback_nameservers_are_found() -> None:
    conf = "# comment\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nnameserver ::1\noptions edns0\nsearch x\n"
    assert loopback_nameservers(conf) == ("127.0.0.53", "::1")
    assert loopback_nameservers("nameserver 10.255.255.53\n") == ()


@root_only
def test_a_loopback_resolver_of_the_host_answers_inside() -> None:
    """systemd-resolved's 127.0.0.53 is the host's loopback: the relay carries queries to it."""
    resolver = "127.0.0.153"  # an address of the host's lo nobody else uses
    upstream = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        upstream.bind((resolver, 53))
    except OSError:
        pytest.skip(f"{resolver}:53 is taken")
    upstream.settimeout(5)

    def answer() -> None:
        query, asker = upstream.recvfrom(512)
        upstream.sendto(query[:2] + b"answer-to-" + query[2:], asker)

    async def scenario() -> bytes:
        spares = SpareNamespaces(Plan(port=45995, egress=True, dns=(resolver,)), spares=0)
        ns = spares.make()
        relay = DnsRelay(ns.dns)
        relay.start()
        server = threading.Thread(target=answer)
        server.start()

        def ask() -> bytes:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.settimeout(5)
            sock.sendto(b"\x12\x34" + b"q" * 20, (resolver, 53))
            return sock.recv(512)

        loop = asyncio.get_running_loop()
        got: asyncio.Future[bytes] = loop.create_future()
        thread = threading.Thread(
            target=lambda: loop.call_soon_threadsafe(got.set_result, _inside(ns.fd, ask))
        )
        thread.start()
        try:
            return await asyncio.wait_for(got, 10)
        finally:
            thread.join()
            server.join()
            relay.close()
            ns.close()
            spares.close()

    try:
        assert asyncio.run(scenario()) == b"\x12\x34answer-to-" + b"q" * 20
    finally:
        upstream.close()
