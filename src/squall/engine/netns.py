"""A network namespace per execution environment, made ahead of time like the spare cgroups.

What an EE's namespace holds (as on AWS, where each EE has its own):

- ``lo`` up, with two kinds of listening sockets the server made inside it
  and serves from its own event loop (a socket keeps the namespace it was
  made in): ``127.0.0.1:9001``, the EE's Runtime API
  (``AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001``, reachable from this EE only),
  and ``127.0.0.1:<port>`` / ``[::1]:<port>`` on the server's port, the
  Squall endpoint (``endpoint_proxy.py`` forwards those connections to the
  server), so ``AWS_ENDPOINT_URL=http://localhost:<port>`` works inside;
- with egress on, a UDP socket on each of the host's loopback nameservers
  (``Plan.dns``; e.g. systemd-resolved's 127.0.0.53), relayed to the host's
  by ``dns_relay.py``;
- with egress on (``Plan.egress``, and ``firewall.py`` in place), a veth
  pair: ``eth0`` inside with ``10.213.x.2/30`` and a default route, its peer
  ``sqh<n>`` in the host's namespace with ``10.213.x.1/30``, masqueraded to
  the outside; ``firewall.py``'s rules drop what it sends to the host, to
  another EE, to loopback and to 169.254.0.0/16, and whatever anyone else
  sends to it. Without egress there is no interface but ``lo``.

Nothing of the host's namespace is visible: not its loopback services (other
Squall servers included), not its abstract Unix sockets (their names are
per network namespace), not another EE's Runtime API.

An EE's namespace is reused by a later EE once the first is gone (``give_back``:
its pid 1 gone means every process that was in the namespace is; the thread then
makes new listeners in it): making a namespace with its veth and having the
kernel tear one down cost a cold start 1-2 ms of CPU on a small machine.

``SpareNamespaces`` keeps ``SPARES`` ready, made by a background thread:
the thread ``unshare(CLONE_NEWNET)``\\ s (namespaces are per thread), holds
the new namespace by an fd, sets it up over rtnetlink (``netlink.py``), and
``setns`` back. ``take()`` hands one out, or makes one inline on the caller's
thread (about 1 ms) when none is ready. Nothing is named on the filesystem:
when the server dies (``kill -9`` included) its fds close, the namespaces
and their veths go with them. A veth's index ``n`` picks both its host
name and its /30, so two servers on one host never share one: creating
``sqh<n>`` fails with EEXIST when another namespace has it, and the next
index is tried.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import errno
import ipaddress
import itertools
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from squall.engine.netlink import Netlink
from squall.lib.refill import Refilling
from squall.lib.singletons import PerProcess

CLONE_NEWNET = 0x40000000
RUNTIME_API_PORT = 9001
SUBNET = ipaddress.IPv4Network("10.213.0.0/16")  # one /30 per EE: 16,384 of them
HOST_PREFIX = "sqh"  # the host end of an EE's veth: sqh<n>
SPARES = 8  # a burst of cold starts takes these while the thread makes more (~1.4 ms each)
REUSE_WAIT_S = 5.0  # how long a given-back namespace waits for its EE's processes to be gone
RECYCLE_POLL_S = 0.02  # how often the thread looks for given-back namespaces to set up again
_SLOTS = SUBNET.num_addresses // 4

_libc = ctypes.CDLL(None, use_errno=True)


@dataclass(frozen=True)
class Plan:
    """What every EE's namespace gets: the server's port (and where to reach it), egress or not."""

    port: int
    upstream_host: str = "127.0.0.1"  # where the server listens, as the host reaches it
    egress: bool = True
    dns: tuple[str, ...] = ()  # the host's loopback nameservers, relayed inside (with egress)


@dataclass
class Namespace:
    """One EE's network namespace: held by ``fd``, and the listeners made inside it."""

    fd: int
    runtime_api: socket.socket | None
    endpoint: list[socket.socket]
    address: ipaddress.IPv4Interface | None = None  # eth0's, with egress
    host_link: str | None = None  # the veth's host end
    dns: list[socket.socket] = field(default_factory=list)  # UDP on the loopback nameservers, port 53

    def close(self) -> None:
        """Let go of it: the kernel removes the namespace (and its veth) once no process is in it."""
        self.close_sockets()
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def close_sockets(self) -> None:
        """Close the listeners and UDP sockets made inside (the namespace itself is kept)."""
        for sock in [*self.endpoint, *self.dns]:
            sock.close()
        self.endpoint.clear()
        self.dns.clear()
        if self.runtime_api is not None:
            self.runtime_api.close()
            self.runtime_api = None


_LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1", "localhost.localstack.cloud")


def inside_endpoint(url: str, port: int) -> str:
    """The Squall endpoint as a function reaches it from its namespace: ``url`` itself when it
    names loopback and the server's port (listened on inside), else ``http://localhost:<port>``."""
    try:
        parts = urlsplit(url)
        host, url_port = parts.hostname or "", parts.port
    except ValueError:
        return f"http://localhost:{port}"
    loopback = host in _LOOPBACK_NAMES or host.endswith((".localhost", ".localhost.localstack.cloud"))
    if loopback and parts.scheme == "http" and url_port == port:
        return url
    return f"http://localhost:{port}"


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _listen(family: socket.AddressFamily, host: str, port: int) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(64)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _udp(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((host, port))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def loopback_nameservers(resolv_conf: str) -> tuple[str, ...]:
    """The nameservers of a resolv.conf that sit on loopback (unreachable from an EE's namespace)."""
    found = []
    for line in resolv_conf.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "nameserver":
            with contextlib.suppress(ValueError):
                if ipaddress.ip_address(fields[1].split("%")[0]).is_loopback:
                    found.append(fields[1])
    return tuple(found)


class SpareNamespaces(Refilling):
    def __init__(self, plan: Plan, spares: int = SPARES) -> None:
        self.plan = plan
        self._spares = spares
        self._host = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        self._ready: collections.deque[Namespace] = collections.deque()
        self._slots = itertools.count(os.getpid() * 7)
        self._slot_lock = threading.Lock()
        # Given back by EEs: (pid of the EE, give up after, namespace), reused once the pid is gone.
        self._used: list[tuple[int, float, Namespace]] = []
        super().__init__("squall-netns")
        self.failure: OSError | None = None  # the background thread's last error

    def take(self) -> Namespace:
        """A namespace for one EE: a spare if one is ready, else one made now on this thread."""
        try:
            found = self._ready.popleft()
        except IndexError:
            found = self.make()
        self._poke()
        return found

    def warm(self) -> None:
        self._poke()

    def give_back(self, ns: Namespace, pid: int | None) -> None:
        """An EE is done with `ns`. Once its process `pid` (pid 1 of the EE's pid namespace: when
        it is gone, so is every process that was in the namespace) has gone, the namespace is set
        up again (new listeners) and reused: making one and having the kernel tear one down cost
        far more. Without a pid (never spawned, or no pid namespace) it is closed."""
        ns.close_sockets()
        if pid is None or ns.fd < 0:
            ns.close()
            return
        with self._wake:
            if self._closed:
                ns.close()
                return
            self._used.append((pid, time.monotonic() + REUSE_WAIT_S, ns))
        self._poke()

    def close(self) -> None:
        self._stop_thread()
        while self._ready:
            self._ready.popleft().close()
        for _, _, ns in self._used:
            ns.close()
        self._used.clear()

    def _recycle(self) -> None:
        """Set up again the namespaces whose EE is gone (closed when the pool is full or the EE
        outlives the wait)."""
        with self._wake:
            used, self._used = self._used, []
        now = time.monotonic()
        for pid, until, ns in used:
            if os.path.exists(f"/proc/{pid}"):
                if until > now:
                    with self._wake:
                        self._used.append((pid, until, ns))
                else:
                    ns.close()
                continue
            if len(self._ready) >= self._spares * 2:
                ns.close()
                continue
            try:
                self._enter(ns, self._listen_inside)
            except OSError:
                ns.close()
                continue
            self._ready.append(ns)

    def _run(self) -> None:
        while True:
            self._recycle()
            with self._wake:
                if self._closed:
                    return
                if len(self._ready) >= self._spares:
                    self._wake.wait(RECYCLE_POLL_S if self._used else None)
                    continue
            try:
                made = self.make()
            except OSError as exc:
                self.failure = exc
                with self._wake:
                    self._wake.wait(1.0)  # e.g. out of memory or of interfaces: no busy loop
                continue
            with self._wake:
                if self._closed:
                    made.close()
                    return
            self._ready.append(made)

    def make(self) -> Namespace:
        """A new namespace, set up; the calling thread enters it for the while and comes back."""
        _check(_libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
        try:
            return self._build()
        finally:
            # A thread that could not come back would make every later socket in the wrong place.
            if _libc.setns(self._host, CLONE_NEWNET) != 0:  # pragma: no cover - never seen
                os.abort()

    def _build(self) -> Namespace:
        fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        ns = Namespace(fd, None, [])
        try:
            with Netlink() as nl:
                nl.link_up(socket.if_nametoindex("lo"))
                if self.plan.egress:
                    self._veth(nl, ns)
            self._listen_inside(ns)
        except BaseException:
            ns.close()
            raise
        return ns

    def _listen_inside(self, ns: Namespace) -> None:
        """The sockets an EE's namespace gets (this thread is in it): the Runtime API's and the
        endpoint's listeners, the loopback nameservers' UDP sockets."""
        try:
            ns.runtime_api = _listen(socket.AF_INET, "127.0.0.1", RUNTIME_API_PORT)
            ns.endpoint.append(_listen(socket.AF_INET, "127.0.0.1", self.plan.port))
            with contextlib.suppress(OSError):  # no IPv6 here: "localhost" is 127.0.0.1 alone
                ns.endpoint.append(_listen(socket.AF_INET6, "::1", self.plan.port))
            if self.plan.egress and ns.address is not None:
                for server in self.plan.dns:
                    ns.dns.append(_udp(server, 53))
        except BaseException:
            ns.close_sockets()
            raise

    def _enter(self, ns: Namespace, work: Callable[[Namespace], None]) -> None:
        """Run `work(ns)` on this thread inside `ns`, then come back."""
        _check(_libc.setns(ns.fd, CLONE_NEWNET), "setns(ee)")
        try:
            work(ns)
        finally:
            if _libc.setns(self._host, CLONE_NEWNET) != 0:  # pragma: no cover - never seen
                os.abort()

    def _veth(self, nl: Netlink, ns: Namespace) -> None:
        for _ in range(64):
            with self._slot_lock:
                slot = next(self._slots) % _SLOTS
            name = f"{HOST_PREFIX}{slot}"
            try:
                nl.add_veth("eth0", name, self._host)
            except OSError as exc:
                if exc.errno == errno.EEXIST:  # another server's (or one still being removed)
                    continue
                raise
            break
        else:
            raise OSError(errno.EADDRINUSE, "no free veth slot")
        base = SUBNET.network_address + 4 * slot
        inside = ipaddress.IPv4Interface(f"{base + 2}/30")
        outside = ipaddress.IPv4Interface(f"{base + 1}/30")
        eth0 = socket.if_nametoindex("eth0")
        nl.add_address(eth0, inside)
        nl.link_up(eth0)
        nl.add_default_route(outside.ip)
        ns.address, ns.host_link = inside, name
        _check(_libc.setns(self._host, CLONE_NEWNET), "setns(host)")
        try:
            with Netlink() as host:
                index = socket.if_nametoindex(name)
                host.add_address(index, outside)
                host.link_up(index)
        finally:
            _check(_libc.setns(ns.fd, CLONE_NEWNET), "setns(ee)")


_instances: PerProcess[Plan, SpareNamespaces] = PerProcess(SpareNamespaces)


def spares_for(plan: Plan) -> SpareNamespaces:
    """The process-wide spares of one plan."""
    return _instances.get(plan)
