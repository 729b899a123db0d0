"""Distributed load in a cluster: the manifests (validated), the request log's trip home in a
pod log, and ``run_load`` against a fake API server whose Jobs run to the end."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import kubernetes_validate
import pytest

from drillkit.errors import ComponentError, SpecError, StartupError
from drillkit.platforms.k8s.load import in_cluster_gateway, run_load
from drillkit.platforms.k8s.render_load import LoadJob, load_manifests
from drillkit.platforms.k8s.results import archive_text, extract
from drillkit.platforms.kubernetes import KubernetesPlatform
from drillkit.request_log import RequestLogWriter, RequestRecord, read_request_log
from tests.fakes.kube_api import FakeKube, fake_kube
from tests.fakes.kube_env import CONTEXTS, kube_environment
from tests.fakes.kube_objects import (
    deployment_controller,
    job_controller,
    statefulset_controller,
)

RUN = "k8s-20260101000000"
TRACE = b"offset_s,kind,user_id,query,k\n0.0,recommend,1,,10\n0.5,search,2,red shoes,10\n"


def job(**overrides: object) -> LoadJob:
    fields: dict[str, object] = {"id": "a1b2c3", "workers": 3, "trace_name": "t.csv", "trace": TRACE,
                                 "host": "http://k8s-gateway.drills.svc:8080", "duration_s": 30.0}  # fmt: skip
    return LoadJob(**(fields | overrides))  # type: ignore[arg-type]


def parts(folder: Path, worker: str, rows: range) -> Path:
    log = RequestLogWriter(folder, worker=worker)
    for row in rows:
        log.append(RequestRecord(row, "recommend", 100.0 + row, 100.0 + row, 0.01, "ok", "", 200, "primary", "primary", worker))
    log.flush()
    return folder


def test_the_load_manifests_validate_and_wire_master_and_workers(tmp_path: Path) -> None:
    spec = kube_environment(tmp_path)
    trace_map, service, master, workers = load_manifests(spec, RUN, job())
    for doc in (trace_map, service, master, workers):
        kubernetes_validate.validate(doc, "1.29", strict=True)
        kubernetes_validate.validate(doc, "1.37", strict=True)
    args = master["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[:6] == ["-m", "locust", "-f", "/opt/drillkit/loadtests/locustfile.py", "--master", "--headless"]
    assert args[args.index("--expect-workers") + 1] == "3" and args[args.index("--host") + 1] == "http://k8s-gateway.drills.svc:8080"
    assert args[args.index("--trace") + 1] == "/trace/t.csv" and args[args.index("--exit-code-on-error") + 1] == "0"
    worker = workers["spec"]["template"]["spec"]["containers"][0]
    assert worker["args"][:5] == ["-m", "drillkit.platforms.k8s.results", "--dir", "/results", "--"]
    assert worker["args"][5:12] == ["python", "-m", "locust", "-f", "/opt/drillkit/loadtests/locustfile.py", "--worker", "--master-host"]
    assert worker["args"][12] == service["metadata"]["name"] == "k8s-load-a1b2c3-master"
    assert (workers["spec"]["completions"], workers["spec"]["parallelism"], workers["spec"]["backoffLimit"]) == (3, 3, 0)
    assert set(service["spec"]["selector"].items()) <= set(master["spec"]["template"]["metadata"]["labels"].items())


def test_a_trace_too_large_for_a_config_map_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="a ConfigMap holds 1 MiB"):
        load_manifests(kube_environment(tmp_path), RUN, job(trace=b"x" * (2 << 20)))


def test_a_request_log_survives_the_trip_through_a_pod_log(tmp_path: Path) -> None:
    folder = parts(tmp_path / "results", "pod-a", range(5))
    log = "[locust] worker ready\nsome noise\n" + archive_text(folder, "pod-a") + "trailing line\n"
    written = extract(log, tmp_path / "home")
    assert [p.name for p in written] == [p.name for p in sorted(folder.glob("part-*.parquet"))]
    assert read_request_log(tmp_path / "home")["row"].tolist() == [0, 1, 2, 3, 4]


def test_a_cut_or_missing_log_is_an_error_that_says_why(tmp_path: Path) -> None:
    text = archive_text(parts(tmp_path / "results", "pod-a", range(3)), "pod-a")
    with pytest.raises(ComponentError, match="it was cut"):
        extract(text[: len(text) // 2], tmp_path / "home")
    damaged = text.replace(text.splitlines()[1], "A" * len(text.splitlines()[1]))
    with pytest.raises(ComponentError, match="sha256 mismatch"):
        extract(damaged, tmp_path / "home")
    with pytest.raises(ComponentError, match="ended before Locust finished"):
        extract("Traceback (most recent call last):\n", tmp_path / "home")


def test_the_worker_wrapper_runs_the_command_then_prints_its_request_log(tmp_path: Path) -> None:
    make_part = ("import sys; from pathlib import Path; from drillkit.request_log import RequestLogWriter, RequestRecord; "
                 "w = RequestLogWriter(Path(sys.argv[1]), worker='w1'); "
                 "w.append(RequestRecord(7, 'search', 1.0, 1.0, 0.02, 'error', 'timeout', 0, '', '', 'w1')); w.flush(); print('locust done')")  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "drillkit.platforms.k8s.results", "--dir", str(tmp_path / "r"), "--",
                           sys.executable, "-c", make_part, str(tmp_path / "r")], capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    assert done.stdout.startswith("locust done\n")
    extract(done.stdout, tmp_path / "home")
    assert read_request_log(tmp_path / "home")["error_class"].tolist() == ["timeout"]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[KubernetesPlatform, FakeKube]]:
    with fake_kube() as a, fake_kube() as b:
        for kube in (a, b):
            kube.controllers["StatefulSet"] = statefulset_controller()
            kube.controllers["Deployment"] = deployment_controller
        spec = kube_environment(tmp_path, {CONTEXTS["primary"]: a.url, CONTEXTS["standby"]: b.url}, model_repository={"pvc": "m"})
        platform = KubernetesPlatform(spec, poll_s=0.001)
        platform.up()
        a.clear()
        yield platform, a


def test_run_load_applies_waits_collects_every_worker_and_cleans_up(cluster: tuple[KubernetesPlatform, FakeKube], tmp_path: Path) -> None:
    platform, kube = cluster
    folders = {f"k8s-load-a1b2c3-worker-{i}": parts(tmp_path / f"w{i}", f"w{i}", range(10 * i, 10 * i + 4)) for i in range(3)}
    kube.controllers["Job"] = job_controller(lambda pod: f"locust noise\n{archive_text(folders[pod], pod)}" if pod in folders else "master\n")
    path = run_load(platform, job(), "kind-drill-a", tmp_path / "run")
    assert path == tmp_path / "run" / "request_log" / "requests.parquet"
    frame = read_request_log(path.parent)
    assert sorted(frame["worker"].unique()) == ["w0", "w1", "w2"] and len(frame) == 12
    applies = [(c.body["kind"], c.body["metadata"]["name"]) for c in kube.calls_of("PATCH")]
    assert applies == [("ConfigMap", "k8s-load-a1b2c3"), ("Service", "k8s-load-a1b2c3-master"),
                       ("Job", "k8s-load-a1b2c3-master"), ("Job", "k8s-load-a1b2c3-worker")]  # fmt: skip
    logs = [(c.path, c.query) for c in kube.calls_of("GET") if c.path.endswith("/log")]
    assert logs == [(f"/api/v1/namespaces/drills/pods/k8s-load-a1b2c3-worker-{i}/log", {"container": "worker"}) for i in range(3)]
    selector = "app.kubernetes.io/managed-by=drillkit,drillkit.io/environment=k8s,drillkit.io/load=a1b2c3"
    assert {c.query["labelSelector"] for c in kube.calls_of("GET") if c.path.endswith(("jobs", "services", "configmaps"))} == {selector}
    assert [c.path.rsplit("/", 2)[1:] for c in kube.calls_of("DELETE")] == [
        ["jobs", "k8s-load-a1b2c3-master"], ["jobs", "k8s-load-a1b2c3-worker"], ["services", "k8s-load-a1b2c3-master"],
        ["configmaps", "k8s-load-a1b2c3"]]  # fmt: skip


def test_a_master_that_fails_is_an_error_and_the_load_is_removed(cluster: tuple[KubernetesPlatform, FakeKube], tmp_path: Path) -> None:
    platform, kube = cluster
    kube.controllers["Job"] = job_controller(lambda pod: "", failed=frozenset({"k8s-load-a1b2c3-master"}))
    with pytest.raises(StartupError, match="the Locust master of load a1b2c3 failed"):
        run_load(platform, job(), "kind-drill-a", tmp_path / "run")
    assert not [p for p in kube.objects if "load-a1b2c3" in p and "/pods/" not in p]


def test_pods_reach_the_gateway_by_its_service_in_its_own_cluster(cluster: tuple[KubernetesPlatform, FakeKube]) -> None:
    platform, _ = cluster
    assert in_cluster_gateway(platform, "kind-drill-a") == "http://k8s-gateway.drills.svc:8080"
    assert in_cluster_gateway(platform, "kind-drill-b") == "http://172.18.0.2:30080"
