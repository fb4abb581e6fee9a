"""A minimal, image-like ``/etc`` for execution environments, made once per host configuration.

EEs used to see the host's whole ``/etc`` (its users, services, keys' paths,
package configuration). Like the Lambda base image, they now get a small
one: ``passwd``/``group`` with ``sbx_user1051`` (993:990), ``hosts``,
``resolv.conf`` (the host's name servers, for outbound calls),
``nsswitch.conf``, the dynamic linker's cache (libraries in multiarch
directories are found through it), the host's CA bundle at the paths
OpenSSL, Python and the AWS SDKs look in (``ssl/certs/ca-certificates.crt``,
``pki/tls/certs/ca-bundle.crt``), ``openssl.cnf``, ``localtime`` (UTC),
``services``/``protocols`` and ``alternatives`` (symlinks ``/usr/bin``
tools resolve through). Nothing else of the host's ``/etc`` exists inside.

``build_etc(root)`` returns the directory (``root/etc-DIGEST``, digest of its
content, built in a staging directory and renamed), which the EE's private
root binds read-only at ``/etc``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from squall.engine.sandbox import SANDBOX_GID, SANDBOX_UID

HOST_ETC = Path("/etc")
CA_BUNDLES = ("ssl/certs/ca-certificates.crt", "pki/tls/certs/ca-bundle.crt", "ssl/cert.pem")
COPIED = ("ld.so.cache", "services", "protocols", "ssl/openssl.cnf")

PASSWD = (
    "root:x:0:0:root:/root:/sbin/nologin\n"
    f"sbx_user1051:x:{SANDBOX_UID}:{SANDBOX_GID}::/home/sbx_user1051:/sbin/nologin\n"
    "nobody:x:65534:65534:Kernel Overflow User:/:/sbin/nologin\n"
)
GROUP = f"root:x:0:\nsbx_user1051:x:{SANDBOX_GID}:\nnobody:x:65534:\n"
HOSTS = "127.0.0.1   localhost localhost.localdomain\n::1         localhost localhost.localdomain\n"
NSSWITCH = (
    "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nnetworks: files\n"
    "protocols: files\nservices: files\nethers: files\nrpc: files\n"
)


def _resolv_conf() -> str:
    """The host's name servers and search options (comments and anything else dropped)."""
    try:
        lines = (HOST_ETC / "resolv.conf").read_text(errors="replace").splitlines()
    except OSError:
        return ""
    keep = ("nameserver", "search", "options", "domain")
    return "".join(line.strip() + "\n" for line in lines if line.strip().startswith(keep))


def _contents() -> tuple[dict[str, bytes], dict[str, str]]:
    """(files by relative path, symlinks by relative path) of the image's /etc."""
    files = {
        "passwd": PASSWD.encode(),
        "group": GROUP.encode(),
        "hosts": HOSTS.encode(),
        "nsswitch.conf": NSSWITCH.encode(),
        "resolv.conf": _resolv_conf().encode(),
        "hostname": b"localhost\n",
    }
    for rel in COPIED:
        try:
            files[rel] = (HOST_ETC / rel).read_bytes()
        except OSError:
            pass
    bundle = None
    for rel in CA_BUNDLES:
        try:
            bundle = (HOST_ETC / rel).read_bytes()
            break
        except OSError:
            continue
    links = {"localtime": "/usr/share/zoneinfo/UTC", "ssl/cert.pem": "certs/ca-certificates.crt"}
    if bundle is not None:
        files["ssl/certs/ca-certificates.crt"] = bundle
        files["pki/tls/certs/ca-bundle.crt"] = bundle
        links["ssl/certs/ca-bundle.crt"] = "ca-certificates.crt"
    alternatives = HOST_ETC / "alternatives"
    if alternatives.is_dir():
        for entry in os.scandir(alternatives):
            if entry.is_symlink():
                links[f"alternatives/{entry.name}"] = os.readlink(entry.path)
    return files, links


def _digest(files: dict[str, bytes], links: dict[str, str]) -> str:
    h = hashlib.sha256()
    for rel in sorted(files):
        h.update(b"f\0" + rel.encode() + b"\0" + hashlib.sha256(files[rel]).digest())
    for rel in sorted(links):
        h.update(b"l\0" + rel.encode() + b"\0" + links[rel].encode() + b"\0")
    return h.hexdigest()[:16]


def build_etc(root: Path) -> Path:
    """The image /etc for this host's current configuration, made under ``root`` if missing."""
    files, links = _contents()
    target = root / f"etc-{_digest(files, links)}"
    if target.is_dir():
        return target
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".etc-", dir=root))
    try:
        for rel, data in files.items():
            path = staging / rel
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
            path.write_bytes(data)
            path.chmod(0o644)
        for rel, dest in links.items():
            path = staging / rel
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
            path.symlink_to(dest)
        for dirpath, _, _ in os.walk(staging):
            os.chmod(dirpath, 0o755)  # the sandbox's uid reads it
        try:
            staging.rename(target)
        except OSError:
            if not target.is_dir():
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target
