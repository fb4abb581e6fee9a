"""The host's side of EE egress: an nftables table of our own, and IPv4 forwarding.

``install()`` replaces the table ``inet squall`` (atomically, one ``nft -f``
transaction: a table a killed server left behind is replaced, not added to)
and turns ``net.ipv4.ip_forward`` on. The rules match the EEs' veths by
name (``sqh*``, see ``netns.py``) and their /16, so they hold for every EE
of every Squall server on this host without per-EE changes:

- nothing an EE sends is delivered to the host itself (any of its
  addresses, on any interface) and nothing the host sends goes to an EE;
- forwarded from an EE: not to another EE, not to 169.254.0.0/16 (the
  metadata address), loopback, this-network, multicast or broadcast, and no
  IPv6; the rest leaves masqueraded behind the host's address;
- to an EE, only replies to what it opened (conntrack): a function that
  listens on 0.0.0.0 cannot be reached from outside.

The table stays after the server exits (its rules match only EE veths,
which die with the server's namespaces); the next server replaces it.
``install`` needs ``nft`` (Debian's ``nftables`` package) and root; without
them ``install`` returns why not and EEs get no egress (lo only).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from squall.engine.netns import HOST_PREFIX, SUBNET

TABLE = "squall"
IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")
BLOCKED = ("0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/4", "255.255.255.255/32")

RULESET = f"""
table inet {TABLE} {{}}
delete table inet {TABLE}
table inet {TABLE} {{
    chain input {{
        type filter hook input priority -10; policy accept;
        iifname "{HOST_PREFIX}*" drop
    }}
    chain output {{
        type filter hook output priority -10; policy accept;
        oifname "{HOST_PREFIX}*" drop
    }}
    chain forward {{
        type filter hook forward priority -10; policy accept;
        oifname "{HOST_PREFIX}*" iifname "{HOST_PREFIX}*" drop
        oifname "{HOST_PREFIX}*" ct state established,related accept
        oifname "{HOST_PREFIX}*" drop
        iifname "{HOST_PREFIX}*" meta nfproto ipv6 drop
        iifname "{HOST_PREFIX}*" ip daddr {{ {SUBNET}, {", ".join(BLOCKED)} }} drop
        iifname "{HOST_PREFIX}*" ip saddr != {SUBNET} drop
    }}
    chain postrouting {{
        type nat hook postrouting priority srcnat; policy accept;
        ip saddr {SUBNET} oifname != "{HOST_PREFIX}*" masquerade
    }}
}}
"""


def install() -> str | None:
    """Put the rules in place and turn forwarding on; None when done, else why egress is off."""
    nft = shutil.which("nft")
    if nft is None:
        return "nft not found (install Debian's nftables)"
    try:
        done = subprocess.run([nft, "-f", "-"], input=RULESET, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"nft failed: {exc}"
    if done.returncode != 0:
        return (
            f"nft failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}"
        )
    try:
        if IP_FORWARD.read_text().strip() != "1":
            IP_FORWARD.write_text("1\n")
    except OSError as exc:
        return f"cannot turn on net.ipv4.ip_forward: {exc}"
    return None


def remove() -> None:
    """Drop the table (tests; a server leaves it for the next one)."""
    nft = shutil.which("nft")
    if nft is not None:
        subprocess.run([nft, "delete", "table", "inet", TABLE], capture_output=True, timeout=30, check=False)
