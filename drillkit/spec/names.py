"""Region and environment names: RFC 1123 labels, short enough for every name built from them.

A region name is a DNS label (RFC 1123): lowercase letters, digits and ``-``, starting and
ending with a letter or digit, e.g. ``us-east-1``, ``europe-west4``. The environment name is
one too and starts with a letter: it begins every Kubernetes Service name drillkit creates,
and Service names are RFC 1035 labels.

Node names are ``<region>-<index>`` (index 0..15). On Kubernetes every object is named
``<env>-...`` (``platforms/k8s/meta.py``, ``render_*.py``) and every name and label value
must fit a 63-character DNS label. The longest names, ``e`` and ``r`` the two lengths:

=====================================================================  ==========
GPU hog pod ``<env>-hog-compute-<region>-15`` (render_faults, actions)  e + r + 16
NetworkPolicy / NetworkChaos ``<env>-bandwidth-<region>-15``            e + r + 14
headless Service ``<env>-<region>-pods``                                e + r + 6
Triton pod ``<env>-<region>-15`` (its pod-name label too)               e + r + 4
StatefulSet ``<env>-<region>``: at most 52, its pods' controller-       e + r + 1
revision-hash label adds ``-`` and a 10-character hash
load Job and master Service ``<env>-load-<6 hex>-master``               e + 19
run label ``<env>-<YYYYmmddHHMMSS>``                                    e + 15
hog pod's label ``hog-compute-<region>-15``                             r + 15
node mark key ``<env>.drillkit.io/drain-<region>-15`` (name part)       r + 9
=====================================================================  ==========

The API itself refuses past e + r = 51 (StatefulSet) and e = 44 (Job); a pod or
NetworkPolicy name may be a longer DNS subdomain, but a pod's hostname is cut at 63, so
drillkit holds every name to a label. So e + r <= 47: the environment name has at most 23
characters and a region name at most 24 (the longest cloud region names, e.g.
``northamerica-northeast1``, have 23).

A region may not be named ``<another region>-<number>``: that is a node name of the other
region (now or after a scale-up), so a fault target would be ambiguous, and the gateway's
servers ``<region>-<index>`` would no longer tell their region.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated

from pydantic import AfterValidator

ENVIRONMENT_MAX = 23
REGION_MAX = 24
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_INDEX_SUFFIX = re.compile(r"^(?P<base>.+)-(?P<index>[0-9]+)$")


def check_region_name(name: str) -> str:
    """``name`` when it is a valid region name, else ValueError saying what to change."""
    if len(name) > REGION_MAX:
        raise ValueError(f"region name {name!r} has {len(name)} characters; at most {REGION_MAX} fit (the node, pod and "
                         "fault object names built from it must stay 63-character DNS labels): shorten it")  # fmt: skip
    if not _LABEL.match(name):
        raise ValueError(f"region name {name!r} is not an RFC 1123 label: use lowercase letters, digits and '-', "
                         "starting and ending with a letter or digit, e.g. us-east-1")  # fmt: skip
    return name


def check_environment_name(name: str) -> str:
    """``name`` when it is a valid environment name, else ValueError saying what to change."""
    if len(name) > ENVIRONMENT_MAX:
        raise ValueError(f"environment name {name!r} has {len(name)} characters; at most {ENVIRONMENT_MAX} fit (every "
                         "Kubernetes object name starts with it and must stay a 63-character DNS label): shorten it")  # fmt: skip
    if not _LABEL.match(name) or not name[0].isalpha():
        raise ValueError(f"environment name {name!r} is not an RFC 1035 label: use lowercase letters, digits and '-', "
                         "starting with a letter and ending with a letter or digit, e.g. prod-eu")  # fmt: skip
    return name


# The two as pydantic field types (a too long or malformed name is refused when loaded).
RegionName = Annotated[str, AfterValidator(check_region_name)]
EnvironmentName = Annotated[str, AfterValidator(check_environment_name)]


def check_unambiguous(regions: Sequence[str]) -> None:
    """ValueError when a region is named ``<another region>-<number>`` (a node name of that region)."""
    names = set(regions)
    for i, name in enumerate(regions):
        match = _INDEX_SUFFIX.match(name)
        if match and match["base"] in names:
            base, index = match["base"], match["index"]
            raise ValueError(f"regions[{i}].name {name!r} is the name of node {index} of region {base!r} (node names are "
                             f"<region>-<index>), so a fault target {name!r} would be ambiguous: rename one of the "
                             f"two regions, e.g. {base + index!r}")  # fmt: skip


def check_kubernetes_names(env: str, regions: Sequence[str]) -> None:
    """ValueError when a region's Kubernetes objects would take the name of another object of the same kind.

    Services are ``<env>-<region>``, ``<env>-<region>-pods``, ``<env>-gateway`` and
    ``<env>-gateway-stats``; pods ``<env>-<region>-<i>`` and ``<env>-hog-<kind>-<node>``.
    """
    names = set(regions)
    for i, name in enumerate(regions):
        clash = None
        if name in ("gateway", "gateway-stats"):
            clash = f"the gateway's Service {env}-{name}"
        elif name.endswith("-pods") and name.removesuffix("-pods") in names:
            clash = f"the headless Service {env}-{name} of region {name.removesuffix('-pods')!r}"
        else:
            hog = re.match(r"^hog-(memory|compute)-(?P<region>.+)$", name)
            if hog and hog["region"] in names:
                clash = f"the GPU hog pods {env}-{name}-<i> on the nodes of region {hog['region']!r}"
        if clash:
            raise ValueError(f"kubernetes: regions[{i}].name {name!r} would name its objects {env}-{name}..., "
                             f"which collide with {clash}; rename the region")  # fmt: skip
