"""The ``kubernetes:`` section of an environment (``platform: kubernetes``).

One kube context per region, each running the region's Triton nodes; a gateway that is
either a drillkit-deployed HAProxy in a chosen context or an existing global endpoint; the
model repository on a PersistentVolumeClaim or in object storage. ``regions[].nodes`` of the
environment is the number of Triton pods (StatefulSet replicas) of each region.
``drills/environments/kubernetes.yaml`` documents every field:

>>> spec = load_environment("drills/environments/kubernetes.yaml")   # doctest: +SKIP
>>> [c.context for c in spec.kubernetes.clusters]                    # doctest: +SKIP
['kind-drill-a', 'kind-drill-b']
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from drillkit.spec.loader import Spec
from drillkit.spec.safe import SafePath, SafeText

_DNS_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
_HOST_PORT = r"^[A-Za-z0-9.-]+:\d{1,5}$"
_URL = r"^https?://[^\s/]+(/\S*)?$"
_QUANTITY = r"^\d+(\.\d+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$"
ServiceType = Literal["NodePort", "LoadBalancer", "ClusterIP"]


_LABEL_KEY = r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
_LABEL_VALUE = r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$"
_DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$"


class ControllerRef(Spec):
    """The controller that owns a region's pods, which a region stop scales (attach mode)."""

    kind: Literal["Deployment", "StatefulSet"] = Field(description="Deployment or StatefulSet")
    name: Annotated[str, Field(pattern=_DNS_SUBDOMAIN)] = Field(description="its name, in the region's namespace")


class ClusterSpec(Spec):
    region: SafeText = Field(description="a region name from regions[]")
    context: SafeText = Field(min_length=1, description="the kube context of the region's cluster")
    namespace: Annotated[str | None, Field(pattern=_DNS_LABEL)] = Field(
        None, description="attach mode: the namespace of the region's Triton pods (empty: kubernetes.namespace)")
    selector: dict[Annotated[str, Field(pattern=_LABEL_KEY)], Annotated[str, Field(pattern=_LABEL_VALUE)]] | None = Field(
        None, max_length=16, description="attach mode: the labels of the region's Triton pods, whatever controller owns them")
    controller: ControllerRef | None = Field(
        None, description="attach mode: the controller a region stop scales (empty: the one that owns the selected pods)")
    service_type: ServiceType = Field("NodePort", description="how the region's Service is exposed to the gateway")
    node_port: int | None = Field(None, ge=30000, le=32767, description="fixed nodePort of the region's Service")
    address: Annotated[str | None, Field(pattern=_HOST_PORT)] = Field(
        None, description="host:port where the gateway reaches the region's Service (needed with a deployed gateway)"
    )
    proxy_url: Annotated[str | None, Field(pattern=_URL)] = Field(
        None, description="a `kubectl proxy` of this context: node endpoints and metrics for drills go through it"
    )


class ImagesSpec(Spec):
    drillkit: SafeText = Field(min_length=1, description="the drillkit image: model server (PyTriton bundles Triton), fetch, hogs, Locust")
    haproxy: SafeText = Field("haproxy:3.0", min_length=1, description="the gateway's HAProxy image")
    pull_policy: Literal["IfNotPresent", "Always", "Never"] = Field("IfNotPresent", description="imagePullPolicy")
    pull_secrets: tuple[SafeText, ...] = Field((), description="imagePullSecrets names in the namespace")


class TolerationSpec(Spec):
    key: SafeText | None = Field(None, description="taint key, e.g. nvidia.com/gpu")
    operator: Literal["Exists", "Equal"] = Field("Exists", description="Exists or Equal")
    value: SafeText | None = Field(None, description="taint value (with Equal)")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(None, description="taint effect")


class GpuSpec(Spec):
    resource: SafeText = Field("nvidia.com/gpu", min_length=1, description="the extended resource of a GPU")
    count: int = Field(1, ge=0, le=16, description="GPUs per Triton pod (0: CPU-only nodes, e.g. kind)")
    node_selector: dict[SafeText, SafeText] = Field({}, description="labels of the GPU nodes")
    tolerations: tuple[TolerationSpec, ...] = Field((), description="tolerations for the GPU nodes' taints")
    hog_access: Literal["request", "visible-devices"] = Field(
        "request", description="a hog pod requests the GPU resource (needs sharing) or sees all devices by env"
    )


class ResourcesSpec(Spec):
    cpu: Annotated[str, Field(pattern=_QUANTITY)] = Field("2", description="CPU request and limit of a Triton pod")
    memory: Annotated[str, Field(pattern=_QUANTITY)] = Field("8Gi", description="memory request and limit of a Triton pod")
    shm: Annotated[str, Field(pattern=_QUANTITY)] = Field("2Gi", description="size of /dev/shm (PyTriton's tensors)")


class ModelRepositorySpec(Spec):
    pvc: Annotated[str | None, Field(pattern=_DNS_LABEL)] = Field(
        None, description="a PersistentVolumeClaim holding <version>/ folders (`drillkit model publish`)"
    )
    url: Annotated[str | None, Field(pattern=r"^(s3|https?)://\S+$")] = Field(
        None, description="object storage base URL with <version>/manifest.json (s3://bucket/prefix or https://...)"
    )
    secret: Annotated[str | None, Field(pattern=_DNS_LABEL)] = Field(
        None, description="a Secret whose keys become the fetch container's environment (AWS_ACCESS_KEY_ID, ...)"
    )

    @model_validator(mode="after")
    def _one_source(self) -> ModelRepositorySpec:
        if (self.pvc is None) == (self.url is None):
            raise ValueError("set exactly one of model_repository.pvc and model_repository.url")
        return self


class DeployedGatewaySpec(Spec):
    context: SafeText = Field(min_length=1, description="the context that runs the HAProxy gateway (one of clusters[])")
    url: Annotated[str, Field(pattern=_URL)] = Field(description="where drillkit and its load generator reach the gateway")
    service_type: ServiceType = Field("NodePort", description="how the gateway's Service is exposed")
    node_port: int | None = Field(None, ge=30000, le=32767, description="fixed nodePort of the gateway's Service")


class ExternalGatewaySpec(Spec):
    url: Annotated[str, Field(pattern=_URL)] = Field(description="the existing global endpoint")
    stats_url: Annotated[str | None, Field(pattern=_URL)] = Field(
        None, description="its HAProxy CSV stats (servers named after regions); without it TTD has no data"
    )


class KubernetesGatewaySpec(Spec):
    deploy: DeployedGatewaySpec | None = Field(None, description="a drillkit-deployed HAProxy")
    external: ExternalGatewaySpec | None = Field(None, description="an existing global endpoint")

    @model_validator(mode="after")
    def _one_kind(self) -> KubernetesGatewaySpec:
        if (self.deploy is None) == (self.external is None):
            raise ValueError("set exactly one of kubernetes.gateway.deploy and kubernetes.gateway.external")
        return self


class KubernetesSpec(Spec):
    """Where and how the regions run on Kubernetes (see the module docstring).

    ``deploy: false`` is attach mode: drillkit drills the Triton pods each cluster's
    ``selector`` finds (a Helm release, KServe, plain Deployments), creates nothing but its
    recorded faults, and needs neither images nor a model repository.
    """

    deploy: bool = Field(True, description="true: drillkit deploys the regions; false: attach to pods it did not create")
    max_targets: Annotated[str | None, Field(pattern=r"^([1-9][0-9]{0,5}|([1-9][0-9]?|100)%)$")] = Field(
        None, description="attach mode: the most pods one fault may touch, a number or a percentage of the region (empty: no cap)")
    version_label: Annotated[str, Field(pattern=_LABEL_KEY)] = Field(
        "app.kubernetes.io/version", description="attach mode: the pod label that names the model version a pod serves")
    kubeconfig: SafePath | None = Field(None, description="kubeconfig file (default $KUBECONFIG, then ~/.kube/config)")
    namespace: Annotated[str, Field(pattern=_DNS_LABEL)] = Field("drillkit", description="namespace in every cluster")
    create_namespace: bool = Field(True, description="create the namespace (and delete it on down) or use an existing one")
    clusters: tuple[ClusterSpec, ...] = Field(description="one entry per region: its context and Service")
    images: ImagesSpec | None = Field(None, description="the images drillkit runs (required to deploy; in attach mode only for hog pods)")
    gpu: GpuSpec = GpuSpec()
    resources: ResourcesSpec = ResourcesSpec()
    model_repository: ModelRepositorySpec | None = Field(None, description="where pods fetch the model (required to deploy)")
    gateway: KubernetesGatewaySpec
    service_monitor: bool = Field(False, description="also create a ServiceMonitor (Prometheus Operator CRD)")
    chaos_mesh: bool = Field(False, description="latency and bandwidth faults through Chaos Mesh NetworkChaos")
    start_timeout_s: float = Field(600.0, gt=0, le=7200, description="how long `up` waits for every pod to be ready")
    credentials_over_http: bool = Field(
        False, description="send the kubeconfig's token or password to a non-loopback http:// server (a lab only)"
    )

    @model_validator(mode="after")
    def _what_each_mode_needs(self) -> KubernetesSpec:
        if self.deploy:
            missing = [f for f in ("images", "model_repository") if getattr(self, f) is None]
            if missing:
                raise ValueError(f"kubernetes.{missing[0]} is required to deploy (or set deploy: false to attach to your own pods)")
            selected = [c.region for c in self.clusters if c.selector is not None or c.controller is not None]
            if selected:
                raise ValueError(f"kubernetes.clusters ({', '.join(selected)}): selector and controller are for attach mode: set deploy: false")
            return self
        unselected = [c.region for c in self.clusters if not c.selector]
        if unselected:
            raise ValueError(f"kubernetes.clusters ({', '.join(unselected)}): attach mode needs a selector of each region's Triton pods, "
                             "e.g. selector: {app: recsys}")  # fmt: skip
        if self.gateway.external is None:
            raise ValueError("attach mode drills your global endpoint: set kubernetes.gateway.external.url, not gateway.deploy")
        return self

    def namespace_of(self, region: str) -> str:
        """The namespace of a region's pods (attach mode may give each region its own)."""
        return self.cluster(region).namespace or self.namespace

    def cap(self, region_pods: int) -> int | None:
        """``max_targets`` for a region of ``region_pods`` pods (None: no cap).

        >>> KubernetesSpec.cap_of("50%", 4), KubernetesSpec.cap_of("3", 4), KubernetesSpec.cap_of("10%", 4)
        (2, 3, 1)
        """
        return None if self.max_targets is None else self.cap_of(self.max_targets, region_pods)

    @staticmethod
    def cap_of(max_targets: str, region_pods: int) -> int:
        if max_targets.endswith("%"):
            return max(1, int(region_pods * int(max_targets[:-1]) / 100))
        return int(max_targets)

    @model_validator(mode="after")
    def _addresses_for_a_deployed_gateway(self) -> KubernetesSpec:
        if self.gateway.deploy is None:
            return self
        missing = [c.region for c in self.clusters if c.address is None]
        if missing:
            raise ValueError(f"kubernetes.clusters: {', '.join(missing)} need an address (host:port) for the deployed gateway")
        if self.gateway.deploy.context not in self.contexts():
            raise ValueError(f"kubernetes.gateway.deploy.context {self.gateway.deploy.context!r} is not one of clusters[].context")
        return self

    def check_regions(self, regions: list[str]) -> None:
        """Every region has exactly one cluster, and every cluster a region (ValueError naming the field)."""
        named = [c.region for c in self.clusters]
        if sorted(named) != sorted(regions):
            raise ValueError(f"kubernetes.clusters must name each region once: regions {regions}, clusters {named}")

    def cluster(self, region: str) -> ClusterSpec:
        return next(c for c in self.clusters if c.region == region)

    def contexts(self) -> list[str]:
        """Every context this environment may touch, in spec order, without repeats."""
        return list(dict.fromkeys(c.context for c in self.clusters))
