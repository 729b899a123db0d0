"""The ``Platform`` protocol: what drills need from an environment, whatever runs it.

The local platform (embedded processes) implements it now; the Kubernetes platform (two
clusters, one per region) implements the same protocol, so one experiment file runs on both.
Faults are expressed as platform primitives (kill, pause, restart a node), never as
``os.kill`` calls in the chaos layer.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from drillkit.errors import SpecError
from drillkit.gateway import GatewayCounters
from drillkit.netfault.faults import Fault
from drillkit.spec import EnvironmentSpec, RegionSpec
from drillkit.try_timeout import TryTimeouts
from drillkit.undo import UndoLog

if TYPE_CHECKING:
    from drillkit.workload.golden import GoldenSet


class ComponentKind(StrEnum):
    NODE = "node"
    GATEWAY = "gateway"
    NETFAULT = "netfault"
    PROMETHEUS = "prometheus"
    ALERTMANAGER = "alertmanager"
    RECEIVER = "receiver"  # drillkit's webhook receiver of Alertmanager's notifications


class Capability(StrEnum):
    """What a fault needs from a platform; a platform that lacks it refuses the drill at plan time."""

    NETWORK_LATENCY = "network latency"
    NETWORK_BANDWIDTH = "network bandwidth cap"
    NETWORK_RESETS = "connection resets"
    PARTITION = "network partition"
    REPOSITORY = "model repository access"
    NODE_GPU_FAULT = "a GPU fault inside the node's model"
    NODE_ENDPOINTS = "each node's own endpoint, reachable from drillkit"


class Gap(NamedTuple):
    """Why a platform cannot do something, and the fix."""

    reason: str
    fix: str


class Health(StrEnum):
    READY = "ready"  # running and answering its readiness check
    STARTING = "starting"  # running, not (yet) ready
    PAUSED = "paused"  # stopped with SIGSTOP (a hung node)
    DEAD = "dead"  # not running


class ComponentStatus(BaseModel):
    """One row of ``drillkit status``."""

    model_config = ConfigDict(frozen=True)

    name: str
    kind: ComponentKind
    region: str | None = None
    health: Health
    pid: int | None = None
    endpoint: str | None = None
    metrics_url: str | None = None  # Prometheus metrics of a node
    gateway_state: str | None = None  # for nodes: what HAProxy thinks of them (UP, DOWN, ...)
    version: str | None = None  # for nodes: the model version it serves


class EnvironmentStatus(BaseModel):
    """What ``drillkit status`` shows and ``--json`` prints."""

    model_config = ConfigDict(frozen=True)

    environment: str
    platform: str
    up: bool
    started_at: float | None = None
    gateway_url: str | None = None
    prometheus_url: str | None = None
    netfault_url: str | None = None
    model_version: str | None = None
    loadgen_targets_dir: str | None = None  # where load generators register for scraping
    alertmanager_url: str | None = None  # the embedded Alertmanager, or the one alerting.alertmanager.url names
    notifications_file: str | None = None  # where the embedded receiver records notifications
    try_timeouts_ms: dict[str, int] = {}  # the gateway's per-try timeout of each model, as `up` set it
    components: tuple[ComponentStatus, ...] = ()

    def nodes(self, region: str | None = None) -> list[ComponentStatus]:
        """Node rows, optionally of one region."""
        return [c for c in self.components if c.kind is ComponentKind.NODE and region in (None, c.region)]


@dataclass(frozen=True)
class NodeSwitch:
    """When each step of moving one node happened (unix seconds)."""

    node: str
    version: str
    drained_at: float  # no request of its own left in flight
    started_at: float  # its new process answers readiness
    verified_at: float | None  # it answered the version's golden probes (None: the version has none yet)
    serving_at: float  # the gateway has it UP again


@dataclass(frozen=True)
class ScaleResult:
    """One scaling of a region: from how many nodes to how many, which, and when (unix seconds)."""

    region: str
    from_nodes: int
    to_nodes: int
    nodes: list[str]  # the nodes added, or removed
    requested_at: float
    ready_at: float  # added: every new node answers readiness; removed: every node is gone
    serving_at: float  # added: the gateway sends them traffic; removed: as ready_at

    @property
    def time_to_scale_s(self) -> float:
        return self.serving_at - self.requested_at


def scale_bounds(spec: EnvironmentSpec, where: str, region: str, nodes: int) -> RegionSpec:
    """The region to scale to ``nodes``, or a SpecError when there is none or it cannot hold that many.

    A region scales between the nodes it starts with and ``max_nodes``: below, a drill would be
    destroying capacity (a fault's job); above, the gateway has no slot for the node.
    """
    found = next((r for r in spec.regions if r.name == region), None)
    if found is None:
        raise SpecError(where, "region", f"no region {region!r}", f"use one of {', '.join(r.name for r in spec.regions)}")
    most = found.max_nodes or found.nodes
    if not found.nodes <= nodes <= most:
        raise SpecError(where, f"regions[{region}].max_nodes", f"{nodes} nodes is outside {found.nodes}..{most} "
                        "(the nodes the environment starts with, up to max_nodes)",
                        "raise max_nodes in the environment (the gateway then has a slot for each), and bring it up again")  # fmt: skip
    return found


@runtime_checkable
class Platform(Protocol):
    """An environment drills can run against.

    >>> platform = LocalPlatform(load_environment("drills/environments/local.yaml"))  # doctest: +SKIP
    >>> platform.up().gateway_url                                                  # doctest: +SKIP
    'http://127.0.0.1:41235'
    """

    name: str
    # Where GPU faults and hogs act, as journals must say (a node-level simulation is not a kernel Xid).
    gpu_fault_layer: str
    hog_layer: str
    root: Path  # the environment's local state folder: undo log, drill lock, logs
    spec: EnvironmentSpec  # the environment it runs

    def up(self) -> EnvironmentStatus:
        """Start everything and return once every node is ready and the gateway answers."""
        ...

    def down(self) -> list[str]:
        """End exactly what ``up`` started (also after a crash); return what was stopped."""
        ...

    def status(self) -> EnvironmentStatus:
        """The live state of every component."""
        ...

    def kill_node(self, node: str) -> None:
        """Crash a node at once (SIGKILL locally; delete the pod on Kubernetes)."""
        ...

    def stop_region(self, region: str) -> None:
        """Take every node of a region down until ``restart_nodes`` (SIGKILL locally; scale to
        zero on Kubernetes, where a deleted pod would come back by itself)."""
        ...

    def pause_node(self, node: str) -> None:
        """Hang a node: it keeps its connections but answers nothing."""
        ...

    def resume_node(self, node: str) -> str | None:
        """Undo ``pause_node``; the node serves again afterwards. A note when that took more than a resume."""
        ...

    def restart_node(self, node: str) -> None:
        """Start the node again (after a crash) and wait until it is ready."""
        ...

    def restart_nodes(self, nodes: list[str]) -> None:
        """Restart several nodes at once (a region) and wait until all are ready."""
        ...

    def gateway_states(self) -> dict[str, str]:
        """Each node's state as the gateway sees it right now (UP, DOWN, ...); cheap to call."""
        ...

    def gateway_counters(self) -> GatewayCounters | None:
        """The gateway's request, retry and redispatch counters now (None when they cannot be read)."""
        ...

    def try_timeouts(self) -> TryTimeouts:
        """The gateway's per-try timeout of each model, and how it was chosen."""
        ...

    def node_names(self, region: str | None = None) -> list[str]:
        """Nodes of one region, or all."""
        ...

    def set_network_fault(self, node: str, fault: Fault) -> None:
        """Degrade or cut the network path to a node (``Fault()`` clears it)."""
        ...

    def inject_gpu_fault(self, node: str, xid: int) -> None:
        """Make the node's GPU fail like Xid 79 (device lost) or Xid 48 (ECC); until restart."""
        ...

    def start_hog(self, handle: str, node: str, kind: str, level: float, duration_s: float) -> None:
        """Start a memory or compute hog on the node's device, known by ``handle``."""
        ...

    def stop_hog(self, handle: str) -> None:
        """End a hog started by ``start_hog`` (no error when it already ended)."""
        ...

    def lacks(self, capability: Capability) -> Gap | None:
        """Why this platform cannot do ``capability`` (None: it can), checked before a drill runs."""
        ...

    def undo_log(self) -> UndoLog:
        """Where faults on this environment record their undo before acting."""
        ...

    def region_repository(self, region: str) -> Path:
        """The folder holding the region's model repository, every version (a mounted volume elsewhere)."""
        ...

    def switch_repository(self, region: str, new_dir: Path) -> None:
        """Make ``new_dir`` (next to the repository folder) the region's repository in one atomic step.

        Running nodes keep what they loaded; they serve the new repository once restarted.
        """
        ...

    def rollout_order(self) -> list[str]:
        """Every node in the order a rolling upgrade moves them: the primary region first, its
        first node the canary (on Kubernetes, the StatefulSet's highest ordinal)."""
        ...

    def live_nodes(self, region: str) -> tuple[int, int]:
        """(nodes wanted, nodes ready) of a region now: what an autoscaler (drillkit's, or a
        HorizontalPodAutoscaler on Kubernetes) has made of it."""
        ...

    def scale_region(self, region: str, nodes: int) -> ScaleResult:
        """Bring a region to ``nodes`` nodes, live: new ones serve through the gateway before this
        returns; removed ones are drained first. Between the nodes ``up`` starts and ``max_nodes``."""
        ...

    def publish_version(self, version: str) -> list[str]:
        """Put a built model version (from the model cache) into every region's repository,
        verified there; return where it went. Nodes keep serving what they serve."""
        ...

    def set_node_version(self, node: str, version: str) -> NodeSwitch:
        """Serve ``version`` on ``node`` the way a rolling upgrade does: drained at the gateway,
        restarted on it, its answers checked against that version's golden answers, then let
        back in; returns once the gateway sends it traffic. An error leaves it out."""
        ...

    def adopt_golden(self, golden: GoldenSet) -> list[Path]:
        """Newly recorded golden answers (already in the model cache): put them in every copy of
        the version this platform keeps, re-derive what depends on them (the gateway's deep
        check, per-try timeouts); return the files written."""
        ...

    def verification_node(self, region: str, repository: Path) -> AbstractContextManager[str]:
        """Start a throwaway node of ``region`` serving ``repository`` (outside the gateway); yield its URL.

        The node loads the environment's model version from ``repository`` exactly as a
        serving node would (manifest check, real Triton load); it is ended on exit.
        """
        ...
