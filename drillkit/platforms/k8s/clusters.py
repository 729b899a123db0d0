"""The contexts an environment may touch, and nothing else.

- Only contexts named in the environment spec get a client; the kubeconfig's
  ``current-context`` is never used.
- A context whose name, cluster name or server URL looks like production (``prod``
  anywhere, as in ``shopprod`` or ``prodcluster``; ``prd`` or ``live`` as a word) is refused
  unless it is explicitly allowed (``--allow-context NAME``, or ``DRILLKIT_ALLOW_CONTEXTS=a,b``
  for drills and ``chaos run``).
- Credentials (a token, a token file, an auth or exec plugin, a password) are never sent to a
  plain ``http://`` server off this host unless ``kubernetes.credentials_over_http: true``;
  ``insecure-skip-tls-verify`` is logged as a warning; a broken entry (a missing
  ``certificate-authority`` file...) is a SpecError naming the kubeconfig.

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
>>> looks_like_production("shopprod"), looks_like_production("https://api.prodcluster.example:6443")
(True, True)
>>> looks_like_production("delivery-lab")
False
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from kubernetes.config import ConfigException, new_client_from_config

from drillkit.errors import SpecError
from drillkit.netutil import is_loopback
from drillkit.platforms.k8s.client import KubeClient
from drillkit.spec import KubernetesSpec

ALLOW_ENV = "DRILLKIT_ALLOW_CONTEXTS"
# `prod` anywhere: names glue words together (shopprod, prodcluster, eksprod1). The shorter
# `prd` and `live` stay whole words, or "delivery" and "olive" would read as production.
_PRODUCTION = re.compile(r"prod|(?:^|[^a-z])(?:prd|live)(?:[^a-z]|$)", re.IGNORECASE)
# what a kubeconfig user entry sends to the server as a credential (a client certificate
# needs TLS, so it is not sent over http)
_CREDENTIALS = ("token", "tokenFile", "auth-provider", "exec", "password")
log = logging.getLogger(__name__)


def looks_like_production(name: str) -> bool:
    """True when ``prod`` appears anywhere in ``name``, or ``prd`` or ``live`` as a word of it."""
    return _PRODUCTION.search(name) is not None


@dataclass(frozen=True)
class KubeEntry:
    """What the kubeconfig says about one context: only what the guards read."""

    cluster: str
    server: str
    insecure: bool  # insecure-skip-tls-verify
    credentials: tuple[str, ...]  # which of _CREDENTIALS its user sends


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
            self._clients[name] = KubeClient(self._new_client(name), name)
        return self._clients[name]

    def check(self, name: str) -> None:
        """Refuse a context the spec does not list, the kubeconfig lacks, that looks like
        production, or that would send credentials in clear; warn when TLS is not verified."""
        if name not in self.spec.contexts():
            raise SpecError(self.spec_file, "kubernetes.clusters", f"context {name!r} is not part of this environment",
                            f"use one of {self.spec.contexts()}")  # fmt: skip
        entry = self.entry(name)
        flagged = [n for n in (name, entry.cluster, entry.server) if looks_like_production(n)]
        if flagged and name not in self.allow:
            raise SpecError(self.spec_file, "kubernetes.clusters", f"context {name!r} looks like production ({flagged[-1]!r}); "
                            "drillkit breaks things on purpose", f"if you mean it, pass --allow-context {name}")  # fmt: skip
        self._check_transport(name, entry)

    def entry(self, context: str) -> KubeEntry:
        """The kubeconfig's cluster and user of ``context`` (SpecError when it is missing or malformed)."""
        config = self._kubeconfig()
        found = _named(config, "contexts", context)
        if found is None:
            raise SpecError(self.spec_file, "kubernetes.clusters", f"context {context!r} is not in {self.kubeconfig}",
                            "add it (e.g. `kind create cluster --name ...`) or fix the name")  # fmt: skip
        cluster_name, user_name = str(found.get("cluster", "")), str(found.get("user", ""))
        cluster = _named(config, "clusters", cluster_name) or {}
        user = _named(config, "users", user_name) or {}
        return KubeEntry(cluster=cluster_name, server=str(cluster.get("server", "")),
                         insecure=cluster.get("insecure-skip-tls-verify") is True,
                         credentials=tuple(k for k in _CREDENTIALS if user.get(k)))  # fmt: skip

    def _check_transport(self, name: str, entry: KubeEntry) -> None:
        url = urlsplit(entry.server)
        if url.scheme == "http" and not is_loopback(url.hostname) and entry.credentials and not self.spec.credentials_over_http:
            raise SpecError(self.spec_file, "kubernetes.credentials_over_http",
                            f"context {name!r} would send its {'/'.join(entry.credentials)} in clear text to {entry.server}",
                            "use the cluster's https:// server URL in the kubeconfig; on a lab network only, "
                            "set kubernetes.credentials_over_http: true")  # fmt: skip
        if entry.insecure:
            # warn, not refuse: kind and lab clusters use it; but the token may go to anyone in between
            log.warning("WARNING: context %r skips TLS verification (insecure-skip-tls-verify in %s): its credentials "
                        "go to whoever answers at %s; set certificate-authority instead", name, self.kubeconfig, entry.server)

    def _new_client(self, name: str) -> Any:
        try:
            return new_client_from_config(str(self.kubeconfig), context=name)
        # ConfigException for what the client's loader checks ("File does not exist: ca.pem", a
        # missing certificate-authority); the others for malformed entries that it does not check
        except (ConfigException, TypeError, AttributeError, KeyError, ValueError) as exc:
            raise SpecError(self.spec_file, "kubernetes.kubeconfig", f"context {name!r} in {self.kubeconfig}: {exc}",
                            "fix that entry of the kubeconfig (a certificate-authority or client-certificate file "
                            "must exist), or point kubernetes.kubeconfig at another one") from None  # fmt: skip

    def _kubeconfig(self) -> dict[str, Any]:
        try:
            config = yaml.safe_load(self.kubeconfig.read_text())
        except (OSError, UnicodeDecodeError) as exc:
            raise SpecError(self.spec_file, "kubernetes.kubeconfig", f"cannot read {self.kubeconfig}: {exc}",
                            "point kubernetes.kubeconfig (or $KUBECONFIG) at your kubeconfig") from None  # fmt: skip
        except yaml.YAMLError:
            raise SpecError(self.spec_file, "kubernetes.kubeconfig", f"{self.kubeconfig} is not valid YAML",
                            "fix it, or point kubernetes.kubeconfig at a working kubeconfig") from None  # fmt: skip
        return config if isinstance(config, dict) else {}


def _named(config: dict[str, Any], section: str, name: str) -> dict[str, Any] | None:
    """The body of the ``section`` entry called ``name`` (``contexts`` -> its ``context``), if any.

    A kubeconfig is user input: a section or an entry of the wrong type counts as absent.
    """
    entries = config.get(section)
    body_key = section[:-1]  # contexts -> context, clusters -> cluster, users -> user
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and entry.get("name") == name:
            body = entry.get(body_key)
            return body if isinstance(body, dict) else {}
    return None
