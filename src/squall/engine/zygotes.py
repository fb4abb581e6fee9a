"""The zygote set: one zygote per real interpreter, and the sandbox settings EEs are forked with.

Contract: `prepare()` (once, before any EE) fills in what the constructor left
open by probing the host (namespaces, seccomp, overlayfs, a writable cgroup
hierarchy, the interpreters), sweeps and makes spare cgroups, and builds the
runtime SDK (boto3 for every interpreter, see `runtime_sdk`) unless
`runtime_sdk=False`, builds the image /etc private roots bind (`image_etc`) and
the pool of disk-backed /tmp filesystems (`scratch`, where the host allows),
and, given a network `Plan` and root, installs the egress firewall and starts
making spare network namespaces (`netns`). `for_runtime(runtime)` returns the
live zygote of the runtime's interpreter, starting it on first use (one start at a time per
interpreter); a custom runtime (`provided.*`) uses any zygote, the server's own
Python's by preference. `environment(config, zygote)` makes an EE of the kind
the runtime needs (`ee.kind_for`) with these settings. `stop()` stops every
zygote; their EEs die with them (PR_SET_PDEATHSIG). A zygote's death is seen at
once (a pidfd on the loop): `on_death` is called, and the next cold start
starts a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

from squall.engine import firewall
from squall.engine.ee import PROVIDED_RUNTIMES, Environment, kind_for
from squall.engine.host import (
    NAMESPACE_FLAGS,
    CgroupSupport,
    Interpreter,
    discover_interpreters,
    probe_isolation,
    probe_namespace,
)
from squall.engine.image_etc import build_etc
from squall.engine.netns import Plan, SpareNamespaces, loopback_nameservers
from squall.engine.netns import spares_for as network_spares
from squall.engine.runtime_sdk import RuntimeSdk, SdkUnavailable, build_sdk, default_root
from squall.engine.sandbox import usable_namespaces
from squall.engine.scratch import ScratchPool, pool_for
from squall.engine.scratch import supported as scratch_supported
from squall.engine.spare_cgroups import spares_for
from squall.engine.spec import FunctionConfig
from squall.engine.zygote import Zygote

log = logging.getLogger("squall.engine.pool")

RESOLV_CONF = "/etc/resolv.conf"  # what EEs see (the host's /etc); its loopback nameservers are relayed


class UnsupportedRuntime(Exception):
    """No interpreter on this host runs the function's runtime."""


class Zygotes:
    def __init__(
        self,
        *,
        interpreters: list[Interpreter] | None = None,
        cgroups: CgroupSupport | None = None,
        namespaces: frozenset[str] | None = None,
        runtime_sdk: bool = True,
        sdk_root: Path | None = None,
        seccomp: bool | None = None,
        overlay: bool = True,
        network: Plan | None = None,
    ) -> None:
        self._seccomp = seccomp
        self._plan = network
        self.network: SpareNamespaces | None = None  # None: EEs share the host's network
        self._overlay = overlay
        self._want_sdk = runtime_sdk
        self._sdk_root = sdk_root
        self.sdk: RuntimeSdk | None = None
        self.etc_dir: str | None = None
        self.scratch: ScratchPool | None = None
        self._interpreters = interpreters
        self._cgroups = cgroups
        self._namespaces = namespaces
        self._zygotes: dict[str, Zygote] = {}  # by interpreter version
        #: Called on the event loop when a zygote dies (its EEs die with it).
        self.on_death: Callable[[], None] | None = None
        self._locks: dict[str, asyncio.Lock] = {}

    async def prepare(self) -> None:
        if self._interpreters is None or self._namespaces is None or self._seccomp is None:
            isolation = await asyncio.to_thread(probe_isolation)
            if self._seccomp is None:
                self._seccomp = isolation.seccomp
            self._overlay = isolation.overlay
            if self._namespaces is None:
                self._namespaces = usable_namespaces(isolation)
            if self._cgroups is None and isolation.cgroups.version and isolation.cgroups.writable:
                self._cgroups = isolation.cgroups
            if self._interpreters is None:
                self._interpreters = await asyncio.to_thread(discover_interpreters)
        if self._cgroups is not None and self._cgroups.version and self._cgroups.writable:
            spares_for(self._cgroups).warm()  # sweeps what killed servers left, makes spares
        if self._plan is not None and self.network is None:
            await asyncio.to_thread(self._prepare_network, self._plan)
        if self.etc_dir is None and "mount" in (self._namespaces or ()):
            etc = await asyncio.to_thread(build_etc, (self._sdk_root or default_root()) / "etc")
            self.etc_dir = str(etc)
        if self.scratch is None and "mount" in (self._namespaces or ()) and scratch_supported():
            self.scratch = pool_for((self._sdk_root or default_root()).parent / "scratch")
            self.scratch.warm()
        if self._want_sdk and self.sdk is None:
            try:
                self.sdk = await asyncio.to_thread(build_sdk, self._sdk_root)
            except (SdkUnavailable, OSError) as exc:
                log.warning("no runtime SDK for functions (boto3 only where the interpreter has it): %s", exc)

    def _prepare_network(self, plan: Plan) -> None:
        """A network namespace per EE where this server may make them (root, CONFIG_NET_NS); egress
        only once the firewall is in place (else EEs get loopback alone, and the log says why)."""
        if os.geteuid() != 0 or not probe_namespace(NAMESPACE_FLAGS["net"]):
            log.warning("EEs share the host's network: a network namespace per EE needs root")
            return
        if plan.egress:
            why = firewall.install()
            if why is not None:
                log.warning("EEs get no outbound network: %s", why)
                plan = dataclasses.replace(plan, egress=False)
            elif not plan.dns:
                with contextlib.suppress(OSError):
                    plan = dataclasses.replace(plan, dns=loopback_nameservers(Path(RESOLV_CONF).read_text()))
        self.network = network_spares(plan)
        self.network.warm()

    def __getitem__(self, version: str) -> Zygote:
        """The zygote of interpreter `version` (e.g. "3.11"), once started."""
        return self._zygotes[version]

    async def for_runtime(self, runtime: str) -> Zygote:
        version = runtime.removeprefix("python")
        if runtime in PROVIDED_RUNTIMES:  # any zygote can exec a bootstrap: prefer our own Python's
            known = [i.version for i in self._interpreters or []]
            ours = f"{sys.version_info.major}.{sys.version_info.minor}"
            version = ours if ours in known or not known else known[0]
        elif not runtime.startswith("python"):
            raise UnsupportedRuntime(f"runtime {runtime} is not supported by this engine yet")
        found = self._zygotes.get(version)
        if found is not None and found.alive():
            return found
        lock = self._locks.setdefault(version, asyncio.Lock())
        async with lock:
            found = self._zygotes.get(version)
            if found is not None and found.alive():
                return found
            interp = next((i for i in self._interpreters or [] if i.version == version), None)
            if interp is None:
                raise UnsupportedRuntime(f"no python{version} interpreter on this host for runtime {runtime}")
            zygote = await asyncio.to_thread(Zygote.start, interp, self._sdk_paths(interp))
            zygote.watch(asyncio.get_running_loop(), self._died)
            self._zygotes[version] = zygote
            return zygote

    def _died(self, zygote: Zygote) -> None:
        if self.on_death is not None:
            self.on_death()

    def _sdk_paths(self, interp: Interpreter) -> tuple[str, ...]:
        """The SDK for interpreters its distributions support (e.g. urllib3 2.x needs 3.10+)."""
        if self.sdk is None or not self.sdk.supports(interp.version):
            return ()
        return (str(self.sdk.path),)

    def environment(self, config: FunctionConfig, zygote: Zygote) -> Environment:
        """A new (not started) EE for `config`, forked from `zygote` when started."""
        return kind_for(config.runtime)(
            config,
            zygote,
            self._cgroups,
            self._namespaces or frozenset(),
            seccomp=bool(self._seccomp),
            overlay=self._overlay,
            network=self.network,
            etc_dir=self.etc_dir,
            scratch=self.scratch,
        )

    async def stop(self) -> None:
        for zygote in self._zygotes.values():
            await asyncio.to_thread(zygote.stop)
        self._zygotes.clear()
