"""Hostile and careless configuration (issue 15, hole 6): Prometheus' lifecycle API, secrets in
a store endpoint, credentials in clear (to Prometheus or a Kubernetes API), TLS not verified,
a missing CA file, the production guard, the cron lock.

Kubernetes contexts are checked against real kubeconfig files; nothing here reaches a cluster
(every refusal happens before a client exists). The cron line runs for real under bash and
flock(1), with a stand-in ``.venv/bin/drillkit`` script.
"""

from __future__ import annotations

import fcntl
import logging
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from drillkit.errors import SpecError
from drillkit.observe import prometheus_command
from drillkit.observe.client import PromClient
from drillkit.platforms.k8s.clusters import Clusters, looks_like_production
from drillkit.schedule import crontab_line
from drillkit.spec import PrometheusSpec, StoreSpec, load_environment
from tests.fakes.kube_env import CONTEXTS, kube_document

REPO = Path(__file__).resolve().parents[2]
CONTEXT = CONTEXTS["primary"]  # kind-drill-a: a harmless name


# --- Prometheus ------------------------------------------------------------------------------


def test_the_embedded_prometheus_exposes_no_lifecycle_or_admin_api(tmp_path: Path) -> None:
    command = prometheus_command("prometheus", config=tmp_path / "p.yml", data_dir=tmp_path / "tsdb", port=9090, retention="2d")
    # /-/quit and /-/reload would let any local web page stop the drill's metrics or swap their config
    assert not [flag for flag in command if "lifecycle" in flag or "admin-api" in flag]


def test_prometheus_credentials_to_a_plain_http_server_are_refused_unless_opted_in() -> None:
    url, environ = "http://prom.example:9090", {"PROM_TOKEN": "s3cr3t-t0ken", "PU": "sre", "PP": "pa55"}
    for auth in ({"bearer_token_env": "PROM_TOKEN"}, {"basic_auth_user_env": "PU", "basic_auth_password_env": "PP"}):
        with pytest.raises(SpecError) as caught:
            PromClient.from_spec(PrometheusSpec(url=url, **auth), url=url, environ=environ)
        assert caught.value.field == "prometheus.credentials_over_http" and "https://" in caught.value.fix
        assert "s3cr3t" not in str(caught.value) and "pa55" not in str(caught.value)
        opted_in = PrometheusSpec(url=url, credentials_over_http=True, **auth)
        assert PromClient.from_spec(opted_in, url=url, environ=environ).url == url
    local = PrometheusSpec(bearer_token_env="PROM_TOKEN")  # the embedded one, on this host
    assert PromClient.from_spec(local, url="http://127.0.0.1:9090", environ=environ).auth == "bearer"


def test_prometheus_without_tls_verification_is_a_loud_warning(caplog: pytest.LogCaptureFixture) -> None:
    spec = PrometheusSpec(url="https://prom.example:9090", verify_tls=False)
    with caplog.at_level(logging.WARNING):
        PromClient.from_spec(spec, url="https://prom.example:9090", environ={})
    assert any(r.levelno == logging.WARNING and "verify_tls: false" in r.getMessage() for r in caplog.records)


def test_a_missing_prometheus_ca_file_is_a_spec_error(tmp_path: Path) -> None:
    spec = PrometheusSpec(url="https://prom.example:9090", ca_file=tmp_path / "missing-ca.pem")
    with pytest.raises(SpecError) as caught:
        PromClient.from_spec(spec, url="https://prom.example:9090", environ={})
    assert caught.value.field == "prometheus.ca_file" and "missing-ca.pem" in caught.value.problem


# --- backup store endpoint -------------------------------------------------------------------


def write_env(tmp_path: Path, store: dict[str, Any]) -> Path:
    env = {"name": "hostile", "state_dir": str(tmp_path / "state"),
           "regions": [{"name": "primary", "role": "primary"}, {"name": "standby", "role": "standby"}],
           "backup": {"store": store}}  # fmt: skip
    path = tmp_path / "env.yaml"
    path.write_text(yaml.safe_dump(env))
    return path


@pytest.mark.parametrize("endpoint", ["http://AKIAEXAMPLE:s3cr3t-key@127.0.0.1:9000", "https://:s3cr3t-key@s3.example",
                                      "http://s3cr3t-key@127.0.0.1:9000/"])  # fmt: skip
def test_a_store_endpoint_with_credentials_is_refused_without_printing_them(tmp_path: Path, endpoint: str) -> None:
    path = write_env(tmp_path, {"kind": "s3", "bucket": "b", "endpoint": endpoint})
    with pytest.raises(SpecError) as caught:
        load_environment(path)
    assert caught.value.field == "backup.store.endpoint" and caught.value.file == str(path)
    assert "AWS_ACCESS_KEY_ID" in caught.value.fix and "s3cr3t-key" not in str(caught.value)
    with pytest.raises(ValidationError) as direct:  # built in code, not loaded: the error text hides it too
        StoreSpec(kind="s3", bucket="b", endpoint=endpoint)
    assert "s3cr3t-key" not in str(direct.value)


@pytest.mark.parametrize("endpoint", ["ftp://127.0.0.1:9000", "127.0.0.1:9000", "http://", "http://host:port"])
def test_a_store_endpoint_that_is_not_an_http_url_is_refused(tmp_path: Path, endpoint: str) -> None:
    with pytest.raises(SpecError) as caught:
        load_environment(write_env(tmp_path, {"kind": "s3", "bucket": "b", "endpoint": endpoint}))
    assert caught.value.field == "backup.store.endpoint"


def test_the_cli_refuses_a_store_endpoint_with_credentials_with_exit_2(tmp_path: Path) -> None:
    path = write_env(tmp_path, {"kind": "s3", "bucket": "b", "endpoint": "http://AKIAEXAMPLE:s3cr3t-key@127.0.0.1:9"})
    done = subprocess.run([sys.executable, "-m", "drillkit", "backup", "list", "--env", str(path)],
                          capture_output=True, text=True, timeout=120, check=False, cwd=REPO, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "backup.store.endpoint" in done.stderr and "s3cr3t-key" not in done.stderr + done.stdout


# --- Kubernetes: the production guard -----------------------------------------------------------


@pytest.mark.parametrize("name", ["shopprod", "prodcluster", "eksprod1", "gke_shop_europe-west1_prod-eu", "PRODUCTION",
                                  "eks-live", "aks-prd-2", "https://api.prodcluster.example:6443"])  # fmt: skip
def test_names_that_hide_prod_look_like_production(name: str) -> None:
    assert looks_like_production(name)


@pytest.mark.parametrize("name", ["kind-drill-a", "delivery-lab", "olive-dev", "staging", "http://127.0.0.1:6443"])
def test_harmless_names_do_not(name: str) -> None:
    assert not looks_like_production(name)


def clusters_for(tmp_path: Path, cluster: dict[str, Any], user: dict[str, Any], *, cluster_name: str = "lab",
                 context: str = CONTEXT, allow: tuple[str, ...] = (), **kubernetes: Any) -> Clusters:  # fmt: skip
    """Clusters over a kubeconfig whose ``context`` uses ``cluster`` and ``user`` (the other
    region's context is a harmless loopback one)."""
    other = CONTEXTS["standby"]
    config = {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": cluster_name, "cluster": cluster}, {"name": "local", "cluster": {"server": "http://127.0.0.1:9"}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": context, "context": {"cluster": cluster_name, "user": "u"}},
                     {"name": other, "context": {"cluster": "local", "user": "u"}}],
    }  # fmt: skip
    (tmp_path / "kubeconfig").write_text(yaml.safe_dump(config))
    clusters = [{"region": "primary", "context": context, "address": "10.0.0.1:30800"},
                {"region": "standby", "context": other, "address": "10.0.0.2:30800"}]  # fmt: skip
    document = kube_document(tmp_path / "state", tmp_path / "kubeconfig", clusters=clusters, **kubernetes)
    document["kubernetes"]["gateway"]["deploy"]["context"] = context
    (tmp_path / "env.yaml").write_text(yaml.safe_dump(document))
    spec = load_environment(tmp_path / "env.yaml")
    assert spec.kubernetes is not None
    return Clusters(spec.kubernetes, spec_file=str(tmp_path / "env.yaml"), allow=allow)


@pytest.mark.parametrize(("context", "cluster_name", "server"), [
    ("shopprod", "lab", "https://10.0.0.9:6443"),
    ("kind-drill-a", "prodcluster", "https://10.0.0.9:6443"),
    ("kind-drill-a", "lab", "https://api.prod.example.com:6443"),
])  # fmt: skip
def test_a_production_context_cluster_or_server_is_refused_unless_allowed(tmp_path: Path, context: str,
                                                                          cluster_name: str, server: str) -> None:  # fmt: skip
    refused = clusters_for(tmp_path, {"server": server}, {"token": "t"}, cluster_name=cluster_name, context=context)
    with pytest.raises(SpecError, match=f"looks like production.*pass --allow-context {context}"):
        refused.context(context)
    allowed = clusters_for(tmp_path, {"server": server}, {"token": "t"}, cluster_name=cluster_name, context=context,
                           allow=(context,))  # fmt: skip
    assert allowed.context(context).context == context


# --- Kubernetes: credentials and TLS --------------------------------------------------------------


@pytest.mark.parametrize("user", [{"token": "secret-token"}, {"tokenFile": "token-file"},
                                  {"username": "admin", "password": "pw"},
                                  {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "/bin/false"}}])  # fmt: skip
def test_credentials_to_a_plain_http_server_are_refused_unless_opted_in(tmp_path: Path, user: dict[str, Any]) -> None:
    cluster = {"server": "http://10.0.0.9:8080"}
    if "tokenFile" in user:
        (tmp_path / "token-file").write_text("secret-token")
        user = {"tokenFile": str(tmp_path / "token-file")}
    with pytest.raises(SpecError) as caught:
        clusters_for(tmp_path, cluster, user).context(CONTEXT)
    assert caught.value.field == "kubernetes.credentials_over_http"
    assert "https://" in caught.value.fix and "secret-token" not in str(caught.value)
    opted_in = clusters_for(tmp_path, cluster, user, credentials_over_http=True)
    assert opted_in.context(CONTEXT).context == CONTEXT


def test_plain_http_without_credentials_or_to_loopback_is_allowed(tmp_path: Path) -> None:
    assert clusters_for(tmp_path, {"server": "http://10.0.0.9:8080"}, {}).context(CONTEXT).context == CONTEXT
    assert clusters_for(tmp_path, {"server": "http://127.0.0.1:8001"}, {"token": "t"}).context(CONTEXT).context == CONTEXT


def test_skipping_tls_verification_is_a_loud_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    clusters = clusters_for(tmp_path, {"server": "https://10.0.0.9:6443", "insecure-skip-tls-verify": True}, {"token": "t"})
    with caplog.at_level(logging.WARNING):
        clusters.context(CONTEXT)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings and "skips TLS verification" in warnings[0].getMessage() and CONTEXT in warnings[0].getMessage()
    caplog.clear()
    clusters_for(tmp_path, {"server": "https://10.0.0.9:6443"}, {"token": "t"}).context(CONTEXT)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_missing_certificate_authority_file_is_a_spec_error(tmp_path: Path) -> None:
    cluster = {"server": "https://10.0.0.9:6443", "certificate-authority": str(tmp_path / "missing-ca.pem")}
    with pytest.raises(SpecError) as caught:
        clusters_for(tmp_path, cluster, {"token": "t"}).context(CONTEXT)
    assert caught.value.field == "kubernetes.kubeconfig" and "missing-ca.pem" in str(caught.value)


@pytest.mark.parametrize("text", ["contexts: 7\n", "[1, 2]\n", "contexts: [7, {name: kind-drill-a, context: x}]\n",
                                  "contexts: {{\n"])  # fmt: skip
def test_a_malformed_kubeconfig_is_a_spec_error(tmp_path: Path, text: str) -> None:
    clusters = clusters_for(tmp_path, {"server": "https://10.0.0.9:6443"}, {"token": "t"})
    (tmp_path / "kubeconfig").write_text(text)
    with pytest.raises(SpecError):
        clusters.context(CONTEXT)


# --- the cron lock ----------------------------------------------------------------------------


def fake_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "my repo"
    (repo / ".venv" / "bin").mkdir(parents=True)
    script = repo / ".venv" / "bin" / "drillkit"
    script.write_text('#!/bin/sh\necho "ran $*" > ran.txt\n')
    script.chmod(0o755)
    return repo


def test_the_cron_lock_is_in_a_private_folder_of_the_reports_not_in_tmp(tmp_path: Path) -> None:
    repo = fake_repo(tmp_path)
    line = crontab_line("drills/suites/nightly.yaml", schedule="0 3 * * *", repo=repo, reports="out; rm -rf x",
                        log="out; rm -rf x/cron.log")  # fmt: skip
    assert "drillkit-suite.lock" not in line and "flock -n 'out; rm -rf x/.lock/suite.lock' " in line
    command = line.split(" ", 5)[5]  # after the five schedule fields
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=20, check=False)
    assert done.returncode == 0, done.stderr
    assert (repo / "ran.txt").read_text() == "ran suite drills/suites/nightly.yaml --reports out; rm -rf x\n"
    lock_dir = repo / "out; rm -rf x" / ".lock"
    assert stat.S_IMODE(lock_dir.stat().st_mode) == 0o700 and (lock_dir / "suite.lock").is_file()


def test_a_held_cron_lock_skips_the_run(tmp_path: Path) -> None:
    repo = fake_repo(tmp_path)
    (repo / "reports" / ".lock").mkdir(parents=True, mode=0o755)  # made earlier with a wider mode
    command = crontab_line("drills/suites/nightly.yaml", schedule="@daily", repo=repo).split(" ", 1)[1]
    with open(repo / "reports" / ".lock" / "suite.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=20, check=False)
    assert done.returncode != 0 and not (repo / "ran.txt").exists()
    assert stat.S_IMODE((repo / "reports" / ".lock").stat().st_mode) == 0o700  # tightened all the same
