"""An execution environment sees an image-like system, nothing of the host (issue 13, item 9).

The attacks: a function listed the host's /etc (users, package configuration, service
files), read the host's mounts in /proc/self/mounts (the old root was only covered), and
found an inherited descriptor on the host's pid namespace among its fds.
"""

from __future__ import annotations

import json

import pytest

from squall.engine.host import discover_interpreters, probe_isolation
from tests.conftest import RunningServer
from tests.services.lambda_.helpers import create, make_zip, unique

pytestmark = [
    pytest.mark.skipif(
        not any(i.version == "3.11" for i in discover_interpreters()), reason="no python3.11 interpreter"
    ),
    pytest.mark.skipif(not probe_isolation().private_root, reason="no private root on this host"),
]

LOOK_AROUND = """
import os, pwd, grp, socket, ssl, sys

def name(lookup, id_):
    try:
        return lookup(id_)[0]
    except KeyError:
        return None

def handler(event, context):
    fds = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            fds[fd] = os.readlink("/proc/self/fd/" + fd)
        except OSError:
            pass  # the descriptor listdir itself used
    with open("/proc/self/mounts") as f:
        mounts = [line.split()[1] for line in f]
    return {
        "etc": sorted(os.listdir("/etc")),
        "mounts": mounts,
        "fds": fds,
        "user": name(pwd.getpwuid, os.getuid()),
        "group": name(grp.getgrgid, os.getgid()),
        "https_port": socket.getservbyname("https"),
        "cas": ssl.create_default_context().cert_store_stats()["x509_ca"],
        "runtime_paths": [sys.prefix, sys.base_prefix, sys.exec_prefix, *sys.path],
        "localhost": socket.gethostbyname("localhost"),
    }
"""

# What the Lambda image's /etc holds that a runtime needs, and nothing of the host's.
IMAGE_ETC = {
    "alternatives", "group", "hostname", "hosts", "ld.so.cache", "localtime", "nsswitch.conf",
    "passwd", "pki", "protocols", "resolv.conf", "services", "ssl",
}  # fmt: skip
SYSTEM = {"/", "/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc", "/var/task", "/opt", "/tmp"}
SYSTEM |= {"/dev", "/proc"} | {f"/dev/{n}" for n in ("null", "zero", "full", "random", "urandom", "tty")}


@pytest.fixture(scope="module")
def view(server: RunningServer) -> dict:  # type: ignore[type-arg]
    lam = server.client("lambda")
    name = unique("look")
    create(lam, name, Runtime="python3.11", Code={"ZipFile": make_zip(LOOK_AROUND)})
    out = lam.invoke(FunctionName=name, Payload=b"{}")
    body = json.loads(out["Payload"].read())
    assert "FunctionError" not in out, body
    return body  # type: ignore[no-any-return]


def test_etc_is_an_image_etc_not_the_hosts(view: dict) -> None:  # type: ignore[type-arg]
    assert set(view["etc"]) <= IMAGE_ETC, set(view["etc"]) - IMAGE_ETC
    assert view["user"] == "sbx_user1051" and view["group"] == "sbx_user1051"
    # ... and what the runtime needs from /etc still works: services, CA certificates, hosts
    assert view["https_port"] == 443
    assert view["cas"] > 0
    assert view["localhost"] == "127.0.0.1"


def test_mounts_show_nothing_of_the_host(view: dict) -> None:  # type: ignore[type-arg]
    runtime = view["runtime_paths"]
    foreign = [
        m
        for m in view["mounts"]
        if m not in SYSTEM and not any(p == m or p.startswith(m + "/") for p in runtime)
    ]
    assert foreign == [], f"host mounts visible: {foreign}"
    assert len(view["mounts"]) == len(set(view["mounts"]))  # nothing stacked over a host mount


def test_no_inherited_descriptors(view: dict) -> None:  # type: ignore[type-arg]
    links = view["fds"]
    unexpected = {
        fd: target
        for fd, target in links.items()
        if not (target == "/dev/null" or target.startswith(("pipe:[", "socket:[")))
    }
    assert unexpected == {}, f"descriptors the EE should not have: {unexpected}"
    assert len(links) <= 4  # stdin, stdout, stderr (one log pipe), the channel
