"""The environment spec: where the two regions run and how the gateway joins them."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from drillkit.spec.alerting import AlertingSpec
from drillkit.spec.autoscale import AutoscaleSpec
from drillkit.spec.backup import BackupSpec
from drillkit.spec.grafana import GrafanaSpec
from drillkit.spec.kubernetes import KubernetesSpec
from drillkit.spec.loader import Spec, load_spec
from drillkit.spec.names import (
    ENVIRONMENT_MAX,
    REGION_MAX,
    EnvironmentName,
    RegionName,
    check_kubernetes_names,
    check_unambiguous,
)
from drillkit.spec.rollout import RolloutPolicy
from drillkit.spec.safe import MAX_MS, SafePath, SafeText

_ENV_VAR = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"  # the name of an environment variable


class GatewayMode(StrEnum):
    ACTIVE_PASSIVE = "active-passive"  # standby servers are HAProxy `backup`s
    ACTIVE_ACTIVE = "active-active"  # every region takes traffic


class RegionRole(StrEnum):
    PRIMARY = "primary"
    STANDBY = "standby"


RetryOn = Literal[
    "conn-failure", "empty-response", "junk-response", "response-timeout", "404", "500", "502", "503", "504"
]


class RegionSpec(Spec):
    name: RegionName = Field(description=f"an RFC 1123 label (lowercase letters, digits, '-') of at most "
                                         f"{REGION_MAX} characters, e.g. us-east-1")
    role: RegionRole = Field(description="primary or standby")
    nodes: int = Field(2, ge=1, le=16, description="inference nodes in the region, 1..16")
    max_nodes: int | None = Field(None, ge=1, le=16, description="the most nodes scaling out may reach (empty: nodes; no scaling out)")

    @model_validator(mode="after")
    def _room_to_scale(self) -> RegionSpec:
        if self.max_nodes is not None and self.max_nodes < self.nodes:
            raise ValueError(f"max_nodes {self.max_nodes} is below nodes {self.nodes}: scaling never removes the nodes `up` starts")
        return self

    def node_names(self) -> list[str]:
        """Names of the region's nodes: ``primary-0``, ``primary-1``, ..."""
        return [f"{self.name}-{i}" for i in range(self.nodes)]

    def slot_names(self) -> list[str]:
        """Names of the nodes scaling out may add: ``primary-2`` .. up to ``max_nodes``."""
        return [f"{self.name}-{i}" for i in range(self.nodes, self.max_nodes or self.nodes)]


class GatewaySpec(Spec):
    mode: GatewayMode = Field(GatewayMode.ACTIVE_PASSIVE, description="active-passive or active-active")
    port: int | None = Field(None, ge=1, le=65535, description="gateway port; empty or taken -> a free one")
    check_interval_ms: int = Field(500, ge=50, le=60_000, description="health-check interval in ms")
    fall: int = Field(2, ge=1, le=10, description="failed checks before a server is marked down")
    rise: int = Field(2, ge=1, le=10, description="passed checks before a server is marked up")
    # A check that takes longer than a user's request may is a failed check: a node slowed past its
    # per-try timeout (a latency fault) then stays out, instead of being let back in by checks that
    # pass slowly and taken out again by the next users' timed-out tries.
    check_timeout_ms: int | None = Field(None, ge=10, le=MAX_MS,
                                         description="timeout of one whole health check, ms (empty: the interval, at least 200)")
    retries: int = Field(6, ge=0, le=20, description="retries of a failed request (with redispatch)")
    retry_on: tuple[RetryOn, ...] = Field(
        ("conn-failure", "empty-response", "response-timeout", "404", "503"),
        description="HAProxy retry-on events; inference requests are replay-safe (404: a node that lost its model)",
    )
    error_limit: int = Field(3, ge=0, le=1000, description="consecutive 5xx before a server is marked down (0: off)")
    # Also HAProxy's pause before a connection retry: min(timeout connect, 1 s) whenever the
    # retry may land on the same server (leastconn, or one active server left), which is every
    # request in flight when a region dies. On loopback or in-region a connect takes well under
    # a millisecond; a gateway that reaches a region across a WAN needs its RTT plus margin.
    connect_timeout_ms: int = Field(100, ge=10, le=MAX_MS, description="HAProxy timeout connect in ms (also the pause before a retry)")
    server_timeout_ms: int = Field(2_000, ge=10, le=MAX_MS, description="HAProxy timeout server in ms (the longest any try may take)")
    redispatch: bool = Field(True, description="retry on another server (option redispatch 1), not the same one")
    # The per-try timeout is what turns a hung or blackholed node into a retry instead of a wait:
    # each try of a request gets this long before HAProxy gives up on that server and redispatches.
    # Too tight and a heavy but healthy request is retried (twice the work) or fails, and passive
    # checks take its healthy node out; so by default it is derived per model from the latency
    # measured on a busy node at `drillkit up` (drillkit/try_timeout.py), never below the floor.
    try_timeout_ms: int | None = Field(None, ge=10, le=MAX_MS,
                                       description="per-try timeout in ms for every model; empty: derived per model at up")
    try_timeout_factor: float = Field(2.0, ge=1.0, le=100.0, description="derived per-try timeout: this x the p99.9 of a busy node")
    try_timeout_floor_ms: int = Field(100, ge=10, le=MAX_MS, description="derived per-try timeout: never below this, ms")
    # HAProxy's passive checks (observe layer7) see only a request's final answer: a try that timed
    # out and was retried elsewhere leaves its hung node in. Ejection takes it out at once.
    eject_on_retry: bool = Field(True, description="take a server out as soon as a try on it is retried")
    eject_max_percent: float = Field(50.0, ge=0, le=100, description="ejection leaves at least the other share of the servers up (and one)")
    eject_after_retries: int = Field(2, ge=1, le=100, description="retried tries on a server within a second that eject it")
    # Retries replay work: bounded per request (`retries`) and, across requests, by a budget. Past
    # the budget, L7 retries (timeouts, 404/503, empty answers) stop until retries fall back under
    # it; connection retries (a refused connection did no work) always go on. The window is long
    # enough for a failover's burst of retries, and short enough to stop a storm within seconds.
    retry_budget_percent: float = Field(20.0, ge=0, le=100, description="L7 retries allowed per 100 requests over the window (0: no budget)")
    retry_budget_min_per_s: float = Field(1.0, ge=0, le=100_000, description="L7 retries per second always allowed (low traffic)")
    retry_budget_window_s: float = Field(10.0, ge=0.1, le=600, description="the window the retry budget is kept over, seconds")
    # Overload: past a node's maxconn a request waits in the gateway's queue; past max_queue
    # waiting, a request is shed at once with a 503 that says so (X-Drillkit-Shed), instead of
    # everyone's latency growing without bound past the knee.
    maxconn_per_node: int | None = Field(None, ge=1, le=10_000, description="requests one node takes at once (empty: no limit, no queue)")
    max_queue: int | None = Field(None, ge=0, le=100_000, description="requests waiting for a node before new ones are shed (needs maxconn_per_node)")
    queue_timeout_ms: int = Field(2_000, ge=10, le=MAX_MS, description="the longest a request waits in the queue (then a 503), ms")

    @model_validator(mode="after")
    def _queue_needs_maxconn(self) -> GatewaySpec:
        if self.max_queue is not None and self.maxconn_per_node is None:
            raise ValueError("max_queue sheds what waits past a node's maxconn: set maxconn_per_node too")
        return self

    @model_validator(mode="after")
    def _timeouts(self) -> GatewaySpec:
        if self.try_timeout_ms is not None and self.try_timeout_ms > self.server_timeout_ms:
            raise ValueError(f"try_timeout_ms {self.try_timeout_ms} is above server_timeout_ms {self.server_timeout_ms}; "
                             "a try cannot outlast the server timeout (lower it, or raise server_timeout_ms)")  # fmt: skip
        if self.try_timeout_floor_ms > self.server_timeout_ms:
            raise ValueError(f"try_timeout_floor_ms {self.try_timeout_floor_ms} is above server_timeout_ms {self.server_timeout_ms}")
        return self


class ModelSpec(Spec):
    version: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", description="e.g. v1")] = "v1"
    items: int = Field(50_000, ge=100, le=20_000_000, description="catalog items, 100..20,000,000")
    dim: int = Field(64, ge=8, le=1024, description="embedding dimensions, 8..1024")
    users: int = Field(10_000, ge=10, le=100_000_000, description="users, >= 10")
    seed: int = Field(7, ge=0, le=2**32 - 1, description="seed of the synthetic catalog and weights")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto, cpu or cuda")
    max_batch_size: int = Field(64, ge=1, le=4096, description="Triton dynamic batching limit")
    max_queue_delay_us: int = Field(500, ge=0, le=1_000_000, description="dynamic batcher queue delay")


class WorkloadSpec(Spec):
    """What the nodes serve: the built-in recommender (the default) or a Triton model repository."""

    builtin: Literal["recommender"] | None = Field(None, description="recommender: drillkit's own model (the default)")
    repository: SafePath | None = Field(
        None, description="a standard Triton model repository (<model>/config.pbtxt, <model>/<n>/); "
                          "locally Python-backend models only")  # fmt: skip
    image: SafeText | None = Field(None, pattern=r"^[^\s]{1,255}$",
                                   description="on Kubernetes: your Triton image, e.g. nvcr.io/nvidia/tritonserver:24.08-py3")  # fmt: skip

    @model_validator(mode="after")
    def _one_kind(self) -> WorkloadSpec:
        if self.builtin is not None and self.repository is not None:
            raise ValueError("give builtin: recommender or repository: PATH, not both")
        if self.image is not None and self.repository is None:
            raise ValueError("image serves a repository: give workload.repository too")
        return self

    @property
    def is_builtin(self) -> bool:
        return self.repository is None


class PrometheusSpec(Spec):
    """The embedded Prometheus, or an external one by URL (credentials only from the environment)."""

    scrape_interval_s: float = Field(1.0, gt=0, le=60, description="scrape interval in seconds")
    url: SafeText | None = Field(None, pattern=r"^https?://[^@/\s]+(/\S*)?$",
                            description="an external Prometheus URL (http[s]://host:port[/path], no credentials)")
    retention: str = Field("2d", pattern=r"^\d+[smhdwy]$", description="TSDB retention, e.g. 2d")
    bearer_token_env: str | None = Field(None, pattern=_ENV_VAR, description="environment variable holding a bearer token")
    basic_auth_user_env: str | None = Field(None, pattern=_ENV_VAR, description="environment variable holding the basic-auth user")
    basic_auth_password_env: str | None = Field(None, pattern=_ENV_VAR, description="environment variable holding the basic-auth password")
    verify_tls: bool = Field(True, description="verify the server's TLS certificate (turn off only for a lab)")
    credentials_over_http: bool = Field(
        False, description="send the token or password to a non-loopback http:// Prometheus (a lab only)"
    )
    ca_file: SafePath | None = Field(None, description="CA bundle to verify the server with")
    timeout_s: float = Field(10.0, gt=0, le=300, description="timeout of one query, seconds")
    retries: int = Field(3, ge=0, le=10, description="retries of a query on connection errors and 5xx")

    @model_validator(mode="after")
    def _one_auth(self) -> PrometheusSpec:
        basic = (self.basic_auth_user_env, self.basic_auth_password_env)
        if (basic[0] is None) != (basic[1] is None):
            raise ValueError("basic auth needs both basic_auth_user_env and basic_auth_password_env")
        if self.bearer_token_env and basic[0]:
            raise ValueError("give a bearer token or basic auth, not both")
        return self


class EnvironmentSpec(Spec):
    """An environment: where the two regions run and how the gateway joins them."""

    name: EnvironmentName = Field(description=f"lowercase letters, digits and '-', starting with a letter, at most "
                                              f"{ENVIRONMENT_MAX} characters, e.g. prod-eu")
    platform: Literal["local", "kubernetes"] = Field("local", description="local or kubernetes")
    state_dir: SafePath = Field(Path(".drillkit"), description="folder for state, logs and model repositories")
    regions: tuple[RegionSpec, ...] = Field(
        description="exactly one primary region and one or more standbys, unique names, none <another region>-<number>"
    )
    gateway: GatewaySpec = GatewaySpec()
    model: ModelSpec = ModelSpec()
    workload: WorkloadSpec = Field(WorkloadSpec(), description="what the nodes serve (default: the built-in recommender)")
    prometheus: PrometheusSpec = PrometheusSpec()
    rollout: RolloutPolicy = Field(RolloutPolicy(), description="how releases roll out and when they roll back (spec/rollout.py)")
    autoscale: AutoscaleSpec | None = Field(None, description="scale the serving region out under load while drills run (spec/autoscale.py)")
    backup: BackupSpec | None = Field(None, description="backups of a region's model repository (see spec/backup.py)")
    alerting: AlertingSpec | None = Field(None, description="alert rules, Alertmanager and drillkit's receiver (spec/alerting.py)")
    grafana: GrafanaSpec | None = Field(None, description="post each drill's fault, rollback and verdict to Grafana as annotations")
    kubernetes: KubernetesSpec | None = Field(None, description="clusters, images, GPUs (platform: kubernetes only)")

    @field_validator("regions")
    @classmethod
    def _unique_names(cls, regions: tuple[RegionSpec, ...]) -> tuple[RegionSpec, ...]:
        names = [r.name for r in regions]
        if len(set(names)) != len(names):
            raise ValueError(f"region names must be unique, got {names}")
        check_unambiguous(names)  # a region named <other region>-<n> would read as that region's node
        return regions

    @model_validator(mode="after")
    def _one_primary(self) -> EnvironmentSpec:
        roles = [r.role for r in self.regions]
        if roles.count(RegionRole.PRIMARY) != 1 or len(roles) < 2:
            raise ValueError("need exactly one region with role: primary and at least one with role: standby")
        if self.backup and self.backup.region and self.backup.region not in [r.name for r in self.regions]:
            raise ValueError(f"backup.region {self.backup.region!r} is not a region here; use one of {[r.name for r in self.regions]}")
        return self

    @model_validator(mode="after")
    def _kubernetes_iff_platform(self) -> EnvironmentSpec:
        # On Kubernetes, regions[].nodes is the number of Triton pods (StatefulSet replicas) of a region.
        if (self.platform == "kubernetes") != (self.kubernetes is not None):
            raise ValueError("a `kubernetes:` section is required with platform: kubernetes, and only then")
        if self.kubernetes is not None:
            self.kubernetes.check_regions([r.name for r in self.regions])
            check_kubernetes_names(self.name, [r.name for r in self.regions])
        return self

    @model_validator(mode="after")
    def _an_image_for_a_repository_on_kubernetes(self) -> EnvironmentSpec:
        # Locally the bundled tritonserver serves a repository; a pod needs a Triton image, and
        # the drillkit image's server has only the Python backend.
        if self.workload.image is not None and self.platform != "kubernetes":
            raise ValueError("workload.image is the Triton image of your pods: it needs platform: kubernetes "
                             "(locally the tritonserver bundled with nvidia-pytriton serves the repository)")  # fmt: skip
        if self.platform == "kubernetes" and self.workload.repository is not None and self.workload.image is None:
            raise ValueError("workload.repository on Kubernetes needs workload.image, the Triton image your pods run "
                             "(e.g. nvcr.io/nvidia/tritonserver:24.08-py3)")  # fmt: skip
        return self

    @property
    def attached(self) -> bool:
        """Attach mode: Kubernetes pods drillkit did not deploy (``kubernetes.deploy: false``)."""
        return self.kubernetes is not None and not self.kubernetes.deploy

    @property
    def alertmanager_url(self) -> str | None:
        """The external Alertmanager ``alerting:`` names (None: none, or the embedded one's, known once up)."""
        return self.alerting.alertmanager.url if self.alerting is not None else None

    @property
    def alerting_embedded(self) -> bool:
        """drillkit starts Alertmanager and its receiver, and loads the rules: only beside the
        embedded Prometheus (an external one sends its alerts to its own Alertmanager, and
        evaluates its own rules: drillkit reads their state)."""
        return self.alerting is not None and self.alerting.alertmanager.url is None and self.prometheus.url is None \
            and self.platform == "local"

    @property
    def primary(self) -> RegionSpec:
        return next(r for r in self.regions if r.role is RegionRole.PRIMARY)

    @property
    def standbys(self) -> list[RegionSpec]:
        return [r for r in self.regions if r.role is RegionRole.STANDBY]

def load_environment(path: str | Path) -> EnvironmentSpec:
    """Load and validate an environment YAML file (relative ``state_dir`` is kept relative to CWD)."""
    return load_spec(path, EnvironmentSpec)


def state_root(spec: EnvironmentSpec) -> Path:
    """The environment's own state folder: ``<state_dir>/<name>``."""
    return spec.state_dir / spec.name


def model_cache(spec: EnvironmentSpec) -> Path:
    """The build cache of model versions, ``<state_dir>/models``: each version as built (or
    snapshotted, or fetched) and verified, with its golden answers; regions get copies of it."""
    return spec.state_dir / "models"

