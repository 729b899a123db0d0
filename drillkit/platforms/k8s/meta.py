"""Names and labels of every object drillkit creates on Kubernetes.

Every object carries ``app.kubernetes.io/managed-by: drillkit``, ``drillkit.io/environment``
and ``drillkit.io/run`` (the id of the ``up`` that created it), and ``down`` / ``recover``
select by these labels, never by name alone. Objects are named after the environment so
two environments can share a namespace:

>>> node_pod("k8s", "primary-0"), statefulset_name("k8s", "primary")
('k8s-primary-0', 'k8s-primary')
>>> selector({"a": "1", "b": "2"})
'a=1,b=2'
"""

from __future__ import annotations

from collections.abc import Mapping

from drillkit.errors import SpecError

MANAGED_BY = "app.kubernetes.io/managed-by"
NAME = "app.kubernetes.io/name"
COMPONENT = "app.kubernetes.io/component"
ENVIRONMENT = "drillkit.io/environment"
RUN = "drillkit.io/run"
REGION = "drillkit.io/region"
NODE = "drillkit.io/node"  # a fault object's target node (e.g. primary-0)
FAULT = "drillkit.io/fault"
HOG = "drillkit.io/hog"
MODEL_VERSION = "drillkit.io/model-version"  # the model version a Triton pod serves
POD_NAME = "statefulset.kubernetes.io/pod-name"  # set by the StatefulSet controller on each pod
FIELD_MANAGER = "drillkit"

HTTP_PORT, GRPC_PORT, METRICS_PORT = 8000, 8001, 8002
GATEWAY_PORT, STATS_PORT = 8080, 8404
_MAX_STS_NAME = 52  # the controller-revision-hash label (name + '-' + hash) must fit in 63
# spec/names.py bounds environment and region names so that every name built here and in
# render_*.py stays a 63-character DNS label: a new derived name belongs in its table.


def environment_labels(env: str) -> dict[str, str]:
    """What selects every object of one environment (``down`` without a recorded run)."""
    return {MANAGED_BY: "drillkit", ENVIRONMENT: env}


def labels(env: str, run: str, component: str, **extra: str) -> dict[str, str]:
    """The labels of one created object."""
    return {**environment_labels(env), RUN: run, COMPONENT: component, **extra}


def node_labels(env: str, region: str) -> dict[str, str]:
    """The selector of a region's Triton pods (immutable: no run id in it)."""
    return {NAME: "drillkit-triton", ENVIRONMENT: env, REGION: region}


def selector(match: Mapping[str, str]) -> str:
    """An equality label selector for the API's ``labelSelector`` parameter."""
    return ",".join(f"{k}={v}" for k, v in match.items())


def statefulset_name(env: str, region: str) -> str:
    name = f"{env}-{region}"
    if len(name) > _MAX_STS_NAME:
        raise SpecError("environment", "name", f"{name!r} is too long for a StatefulSet name ({_MAX_STS_NAME} max)",
                        "shorten the environment or region name")  # fmt: skip
    return name


def node_pod(env: str, node: str) -> str:
    """The pod of a drillkit node: node ``primary-0`` is pod ``<env>-primary-0`` (StatefulSet ordinal)."""
    return f"{env}-{node}"


def pods_service(env: str, region: str) -> str:
    """The headless Service that gives each pod of a region a stable DNS name."""
    return f"{env}-{region}-pods"


def gateway_name(env: str) -> str:
    return f"{env}-gateway"


def gateway_stats(env: str) -> str:
    return f"{env}-gateway-stats"


def metadata(name: str, namespace: str | None, object_labels: dict[str, str]) -> dict[str, object]:
    meta: dict[str, object] = {"name": name, "labels": object_labels}
    if namespace is not None:
        meta["namespace"] = namespace
    return meta
