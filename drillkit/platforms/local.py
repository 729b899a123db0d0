"""The embedded one-machine platform: every component a supervised child process.

Start order (each recorded in the state file the moment it is spawned):
Triton nodes (in parallel) -> fault proxy (routes to every node) -> HAProxy (servers are the
proxy's ports) -> Prometheus. ``up`` returns once every node is ready, the gateway reports
every server UP, Prometheus is ready, and golden probes through the gateway return the
model's recorded answers.

>>> platform = LocalPlatform(load_environment("drills/environments/local.yaml"))  # doctest: +SKIP
>>> status = platform.up()                                                     # doctest: +SKIP
>>> platform.down()                                                            # doctest: +SKIP
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from drillkit import supervise, try_timeout
from drillkit.backup.swap import install_dir
from drillkit.errors import AlreadyUpError, MissingDependencyError, NotUpError, SpecError
from drillkit.gateway import GatewayCounters
from drillkit.model.node import DEVICE_LOST_SIGNAL, ECC_ERROR_SIGNAL
from drillkit.netfault import Fault, NetfaultClient
from drillkit.platforms import local_scale, local_start, local_versions
from drillkit.platforms.base import Capability, EnvironmentStatus, Gap, Health, NodeSwitch, ScaleResult
from drillkit.platforms.local_state import LocalState, Phase, exclusive, load_state, save_state
from drillkit.platforms.local_status import environment_status, gateway_counters, gateway_servers
from drillkit.platforms.settle import not_settled
from drillkit.spec import EnvironmentSpec, state_root
from drillkit.try_timeout import TryTimeouts
from drillkit.undo import UndoLog
from drillkit.workload.golden import GoldenSet

Which = Callable[[str], str | None]


def _state_folder(spec: EnvironmentSpec, spec_file: str | None) -> Path:
    """The environment's state folder, absolute (HAProxy reads a relative socket path as host:port).

    A link there is refused before it is resolved: ``<state_dir>/<name>`` planted as a link
    to /etc would otherwise make drillkit write its state into /etc and clear folders in it.
    """
    folder = Path(os.path.abspath(state_root(spec)))
    if folder.is_symlink():
        raise SpecError(spec_file or spec.name, "state_dir", f"{folder} is a symbolic link",
                        "point state_dir at a folder of your own, or remove the link")  # fmt: skip
    return folder.resolve()


class LocalPlatform:
    """Two regions of real Triton nodes, HAProxy, the fault proxy and Prometheus on 127.0.0.1.

    Attributes:
        name: the environment's name (``spec.name``).
        spec: the validated environment spec.
        root: the environment's state folder (state file, logs, region model repositories).
        python: the interpreter that runs nodes and the fault proxy.
        which: looks up a program on PATH (injected so tests can simulate a missing binary).
        start_timeout_s: how long ``up`` waits for everything to become ready.
    """

    gpu_fault_layer = "triton-node"  # the node's model instance fails like a lost device
    hog_layer = "process"  # a hog process beside the node, on its device

    def __init__(
        self,
        spec: EnvironmentSpec,
        *,
        spec_file: str | None = None,
        python: str = sys.executable,
        which: Which = shutil.which,
        start_timeout_s: float = 120.0,
    ) -> None:
        self.name = spec.name
        self.spec = spec
        self.spec_file = spec_file
        self.root = _state_folder(spec, spec_file)
        self.python = python
        self.which = which
        self.start_timeout_s = start_timeout_s

    @property
    def state_path(self) -> Path:
        return self.root / "state.json"

    def up(self) -> EnvironmentStatus:
        """Start the environment; on any failure end what was started and raise."""
        binaries = self._binaries()
        with exclusive(self.root / "lock", self.name):
            self._refuse_second_up()
            state: LocalState | None = None
            try:
                state = local_start.start_all(self, binaries)
                state.phase = Phase.UP
                save_state(self.state_path, state)
            except BaseException:
                self._stop(load_state(self.state_path))
                raise
        return self.status()

    def down(self) -> list[str]:
        """End every recorded process (process groups, by PID); return their names."""
        with exclusive(self.root / "lock", self.name):
            return self._stop(load_state(self.state_path))

    def status(self) -> EnvironmentStatus:
        return environment_status(self.spec, load_state(self.state_path))

    def kill_node(self, node: str) -> None:
        record = self._state().node(node)
        supervise.kill(record.process)
        local_start.clean_node_leftovers(self.root, record)

    def stop_region(self, region: str) -> None:
        for node in self.node_names(region):
            self.kill_node(node)  # a killed local node stays dead until restart_nodes

    def pause_node(self, node: str) -> None:
        supervise.send(self._state().node(node).process, signal.SIGSTOP)

    def resume_node(self, node: str) -> str | None:
        supervise.send(self._state().node(node).process, signal.SIGCONT)
        # A node stopped for seconds can die once it runs again: Triton's Python backend finds
        # the timed waits on its stub expired (seen: SIGSEGV, then a boost lock_exception, half
        # a second after SIGCONT). The undo must leave the node serving, so it is restarted.
        if not not_settled(self, [node]):
            return None
        self.restart_nodes([node])
        return f"{node} did not stay ready after the resume; restarted"

    def restart_node(self, node: str) -> None:
        self.restart_nodes([node])

    def restart_nodes(self, nodes: list[str]) -> None:
        with exclusive(self.root / "lock", self.name):
            state = self._state()
            local_start.restart_nodes(self, state, nodes)
            save_state(self.state_path, state)

    def gateway_states(self) -> dict[str, str]:
        return gateway_servers(self._state())

    def gateway_counters(self) -> GatewayCounters | None:
        return gateway_counters(self._state())

    def try_timeouts(self) -> TryTimeouts:
        return self._state().try_timeouts or try_timeout.fixed(self.spec.gateway)

    def node_names(self, region: str | None = None) -> list[str]:
        return [n.name for n in self._state().nodes if region in (None, n.region)]

    def set_network_fault(self, node: str, fault: Fault) -> None:
        state = self._state()
        state.node(node)  # an unknown node is an error here, not a 404 from the proxy
        NetfaultClient.from_state(self.root, state.netfault_url).set_fault(node, fault)

    def inject_gpu_fault(self, node: str, xid: int) -> None:
        signals = {79: DEVICE_LOST_SIGNAL, 48: ECC_ERROR_SIGNAL}
        if xid not in signals:
            raise ValueError(f"Xid {xid} is not simulated here; use 79 (device lost) or 48 (ECC error)")
        process = self._state().node(node).process
        if not supervise.alive(process):
            raise NotUpError(f"node {node} is not running")
        os.kill(process.pid, signals[xid])  # the node's main process only: not its tritonserver

    def start_hog(self, handle: str, node: str, kind: str, level: float, duration_s: float) -> None:
        with exclusive(self.root / "lock", self.name):
            state = self._state()
            state.node(node)
            if handle in state.hogs and supervise.alive(state.hogs[handle]):
                raise AlreadyUpError(f"hog {handle} already runs")
            command = [self.python, "-m", "drillkit.chaos.hog", "--kind", kind, "--level", str(level),
                       "--device", self.spec.model.device, "--duration", str(duration_s),
                       # a GPU memory hog signals the node to hand back its cached memory, so it must allocate
                       "--notify-pid", str(state.node(node).process.pid)]  # fmt: skip
            state.hogs[handle] = supervise.spawn(handle, command, log_path=self.root / "logs" / f"{handle}.log")
            save_state(self.state_path, state)

    def stop_hog(self, handle: str) -> None:
        with exclusive(self.root / "lock", self.name):
            state = self._state()
            process = state.hogs.pop(handle, None)
            if process is not None:
                supervise.terminate([process], grace_s=5)
            save_state(self.state_path, state)

    def lacks(self, capability: Capability) -> Gap | None:
        # The fault proxy and the local repositories do everything else. A local node fails like
        # a lost GPU only in the built-in recommender's code (drillkit.model.node); tritonserver
        # serving a user's repository has no such hook, and a signal would just kill it.
        if capability is Capability.NODE_GPU_FAULT and not self.spec.workload.is_builtin:
            return Gap("a GPU fault is made inside the built-in recommender's node; a Triton repository's node has no such hook",
                       "drill GPU faults of your own model on platform: kubernetes (taint and evict), or use crash_node here")  # fmt: skip
        return None

    def undo_log(self) -> UndoLog:
        return UndoLog(self.root / "undo.jsonl")

    def region_repository(self, region: str) -> Path:
        names = [r.name for r in self.spec.regions]
        if region not in names:
            raise SpecError(self.spec_file or self.name, "region", f"no region {region!r}", f"use one of {', '.join(names)}")
        return local_start.region_repo(self, region)

    def switch_repository(self, region: str, new_dir: Path) -> None:
        install_dir(new_dir, self.region_repository(region))

    def verification_node(self, region: str, repository: Path) -> AbstractContextManager[str]:
        return local_start.verification_node(self, region, repository)

    def live_nodes(self, region: str) -> tuple[int, int]:
        nodes = self.status().nodes(region)
        return len(nodes), sum(1 for n in nodes if n.health is Health.READY)

    def scale_region(self, region: str, nodes: int) -> ScaleResult:
        return local_scale.scale(self, region, nodes)

    def rollout_order(self) -> list[str]:
        regions = [self.spec.primary, *self.spec.standbys]
        return [n for r in regions for n in self.node_names(r.name)]

    def publish_version(self, version: str) -> list[str]:
        return local_versions.publish_everywhere(self, version)

    def set_node_version(self, node: str, version: str) -> NodeSwitch:
        return local_versions.switch_node(self, node, version)

    def adopt_golden(self, golden: GoldenSet) -> list[Path]:
        binary = self._binaries()["haproxy"]
        with exclusive(self.root / "lock", self.name):
            state = self._state()
            written = local_start.adopt_golden(self, state, binary, golden)
            save_state(self.state_path, state)
            return written

    def _state(self) -> LocalState:
        state = load_state(self.state_path)
        if state is None:
            raise NotUpError(f"environment {self.name!r} is not up: run `drillkit up` first")
        return state

    def _binaries(self) -> dict[str, str]:
        wanted = ["haproxy"] + ([] if self.spec.prometheus.url else ["prometheus"])
        if self.spec.alerting_embedded:
            wanted += ["prometheus-alertmanager", "promtool"]
        found = {name: self.which(name) for name in wanted}
        missing = [name for name, path in found.items() if path is None]
        if missing:
            raise MissingDependencyError(
                f"{' and '.join(missing)} not found on PATH: run `make setup` "
                "(it installs the Debian packages haproxy, prometheus and prometheus-alertmanager)"
            )
        return {name: str(path) for name, path in found.items()}

    def _refuse_second_up(self) -> None:
        state = load_state(self.state_path)
        if state is None:
            return
        running = [p.name for p in state.processes() if supervise.alive(p)]
        if running:
            raise AlreadyUpError(
                f"environment {self.name!r} is already up ({len(running)} processes, gateway "
                f"{state.gateway_url}); nothing was started. Run `drillkit down` first."
            )
        self._stop(state)  # a stale record of a crashed run: clear what may linger

    def _stop(self, state: LocalState | None) -> list[str]:
        if state is None:
            return []
        stopped = local_start.stop_all(self.root, state)
        self.state_path.unlink(missing_ok=True)
        return stopped

