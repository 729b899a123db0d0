"""The contexts an environment may touch, and nothing else.

- Only contexts named in the environment spec get a client; the kubeconfig's
  ``current-context`` is never used.
- A context whose name, or whose cluster's name, looks like production (``prod``,
  ``production``, ``prd``, ``live`` as a word) is refused unless it is explicitly allowed
  (``--allow-context NAME``, or ``DRILLKIT_ALLOW_CONTEXTS=a,b`` for drills and ``chaos run``).

Why drillkit does not call chaostoolkit-kubernetes actions (``terminate_pods``,
``cordon_node``, ``drain_nodes``, ``scale_statefulset``...) although it makes the same API
calls: their client (``chaosk8s.create_k8s_api_client``) cannot be pinned to one context of
one kubeconfig. It checks ``$KUBECONFIG`` at call time but then loads
``kubernetes.config.KUBE_CONFIG_DEFAULT_LOCATION``, which the kubernetes package fixed when it
was first imported, so the same context name can resolve in another file (another cluster);
it replaces the process-wide default client configuration on every call; and its
environment-variable path turns TLS verification off unless told otherwise. A tool that
must touch only the contexts its spec names cannot use that, so each fault here documents
the chaosk8s action it corresponds to.

>>> looks_like_production("gke_shop_europe-west1_prod-eu"), looks_like_production("kind-drill-a")
(True, False)
>>> looks_like_production("product-catalog-dev")
False
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

import yaml
from kubernetes.config import new_client_from_config

from drillkit.errors import SpecError
from drillkit.platforms.k8s.client import KubeClient
from drillkit.spec import KubernetesSpec

ALLOW_ENV = "DRILLKIT_ALLOW_CONTEXTS"
_PRODUCTION = re.compile(r"(?:^|[^a-z])(prod|production|prd|live)(?:[^a-z]|$)", re.IGNORECASE)


def looks_like_production(name: str) -> bool:
    """True when ``prod``, ``production``, ``prd`` or ``live`` appears as a word of ``name``."""
    return _PRODUCTION.search(name) is not None


def allowed_from_environment() -> list[str]:
    """Contexts allowed through ``$DRILLKIT_ALLOW_CONTEXTS`` (comma-separated)."""
    return [c.strip() for c in os.environ.get(ALLOW_ENV, "").split(",") if c.strip()]


def kubeconfig_path(spec: KubernetesSpec) -> Path:
    """``kubernetes.kubeconfig``, else ``$KUBECONFIG`` (one file), else ``~/.kube/config``."""
    if spec.kubeconfig is not None:
        return spec.kubeconfig.expanduser()
    env = os.environ.get("KUBECONFIG", "")
    if os.pathsep in env:
        raise SpecError("environment", "kubernetes.kubeconfig", f"$KUBECONFIG lists several files ({env})",
                        "set kubernetes.kubeconfig to the one file that holds the contexts")  # fmt: skip
    return Path(env or "~/.kube/config").expanduser()


class Clusters:
    """One API client per allowed context, made on first use.

    Attributes:
        spec: the environment's ``kubernetes:`` section.
        kubeconfig: the kubeconfig file every client is made from.
        allow: contexts explicitly allowed although they look like production.
    """

    def __init__(self, spec: KubernetesSpec, *, spec_file: str = "environment", allow: Iterable[str] = ()) -> None:
        self.spec = spec
        self.spec_file = spec_file
        self.kubeconfig = kubeconfig_path(spec)
        self.allow = frozenset(allow)
        self._clients: dict[str, KubeClient] = {}

    def region(self, region: str) -> KubeClient:
        """The client of a region's context."""
        return self.context(self.spec.cluster(region).context)

    def context(self, name: str) -> KubeClient:
        """The client of a context of this environment (SpecError for any other, or a refused one)."""
        if name not in self._clients:
            self.check(name)
            self._clients[name] = KubeClient(new_client_from_config(str(self.kubeconfig), context=name), name)
        return self._clients[name]

    def check(self, name: str) -> None:
        """Refuse a context the spec does not list, the kubeconfig lacks, or that looks like production."""
        if name not in self.spec.contexts():
            raise SpecError(self.spec_file, "kubernetes.clusters", f"context {name!r} is not part of this environment",
                            f"use one of {self.spec.contexts()}")  # fmt: skip
        cluster = self._cluster_of(name)
        flagged = [n for n in (name, cluster) if looks_like_production(n)]
        if flagged and name not in self.allow:
            raise SpecError(self.spec_file, "kubernetes.clusters", f"context {name!r} looks like production ({flagged[-1]!r}); "
                            "drillkit breaks things on purpose", f"if you mean it, pass --allow-context {name}")  # fmt: skip

    def _cluster_of(self, context: str) -> str:
        try:
            config = yaml.safe_load(self.kubeconfig.read_text()) or {}
        except OSError as exc:
            raise SpecError(self.spec_file, "kubernetes.kubeconfig", f"cannot read {self.kubeconfig}: {exc.strerror}",
                            "point kubernetes.kubeconfig (or $KUBECONFIG) at your kubeconfig") from None  # fmt: skip
        for entry in config.get("contexts") or []:
            if entry.get("name") == context:
                return str((entry.get("context") or {}).get("cluster", ""))
        raise SpecError(self.spec_file, "kubernetes.clusters", f"context {context!r} is not in {self.kubeconfig}",
                        "add it (e.g. `kind create cluster --name ...`) or fix the name")  # fmt: skip
