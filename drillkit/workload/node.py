"""A node serving a user's Triton repository: ``tritonserver`` on a verified snapshot.

Like the built-in recommender's node, a node never serves a version that does not match its
manifest, and it refuses *in its own process*, as a pod's container would: the platform
spawns ``python -m drillkit.workload.node --repository R --version V --node N --workspace W
-- <tritonserver command>`` (``command``), which verifies the version first (exit 2 when it is
damaged or gone: the node is dead, the drill goes on), builds the node's workspace, and then
``exec``s ``tritonserver`` (the binary bundled in nvidia-pytriton) on the snapshot's
``repository/`` folder, bound to one address. The process drillkit supervises and faults is
then Triton's own, under the same PID; ``supervise`` knows it by the arguments it ends with.

The bundled server ships only the Python backend, and its stub must match this interpreter:
``prepare`` builds a backend folder in the node's workspace holding the backend library, its
utilities and ``python_backend_stubs/3.X/triton_python_backend_stub``. The stub finds its
interpreter through ``PATH`` (this venv's ``bin`` first, so models import this venv's numpy,
which the stub was built against) and links ``libpython`` from ``LD_LIBRARY_PATH``
(``drillkit.model.node.node_environment``). Its shared-memory regions carry the node's own
prefix, so the ones a killed node leaves are found and removed (``shm_leftovers``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from drillkit.errors import ModelRepositoryError
from drillkit.model.repository import verify
from drillkit.workload.repository import REPOSITORY

SHM_PREFIX = "drillkit_"


def tritonserver_home() -> Path:
    import pytriton

    return Path(pytriton.__file__).parent / "tritonserver"


def stub_environment(base: Mapping[str, str], python: str) -> dict[str, str]:
    """``base`` with this interpreter's ``bin`` first on PATH (the stub's interpreter and packages)."""
    return {**base, "PATH": f"{Path(python).parent}:{base.get('PATH', '/usr/bin:/bin')}"}


def shm_leftovers(node: str) -> list[Path]:
    """Shared-memory regions a killed node's Python backend leaves behind."""
    return sorted(Path("/dev/shm").glob(f"{SHM_PREFIX}{node}_*"))


def backend_folder(workspace: Path) -> Path:
    """The Python backend with the stub for this interpreter, built fresh in ``workspace``."""
    home = tritonserver_home()
    folder = workspace / "backends" / "python"
    shutil.rmtree(workspace / "backends", ignore_errors=True)
    folder.mkdir(parents=True)
    for name in ("libtriton_python.so", "triton_python_backend_utils.py"):
        shutil.copy2(home / "backends" / "python" / name, folder / name)
    stub = home / "python_backend_stubs" / f"{sys.version_info.major}.{sys.version_info.minor}" / "triton_python_backend_stub"
    if not stub.is_file():
        raise FileNotFoundError(f"nvidia-pytriton has no Python-backend stub for Python "
                                f"{sys.version_info.major}.{sys.version_info.minor} ({stub})")  # fmt: skip
    shutil.copy2(stub, folder / stub.name)
    return folder.parent


@dataclass(frozen=True)
class NodePlan:
    """Where one node serves (its ports and workspace)."""

    repository: Path  # the region's repository root: the version is a folder in it
    version: str
    node: str
    http_port: int
    grpc_port: int
    metrics_port: int
    workspace: Path
    address: str = "127.0.0.1"


def command(plan: NodePlan, base_env: Mapping[str, str], python: str) -> tuple[list[str], list[str], dict[str, str]]:
    """(the verifying wrapper, the tritonserver command it execs, their environment); nothing is
    read or written here: the node does that in its own process (``main``)."""
    wrapper = [python, "-m", "drillkit.workload.node", "--repository", str(plan.repository), "--version", plan.version,
               "--node", plan.node, "--workspace", str(plan.workspace), "--"]  # fmt: skip
    served, backends = plan.workspace / REPOSITORY, plan.workspace / "backends"
    return wrapper, server_arguments(plan, served, backends), stub_environment(base_env, python)


def prepare(repository: Path, version: str, node: str, workspace: Path) -> None:
    """Verify the version (ModelRepositoryError: refused), then build the node's workspace."""
    manifest = verify(repository / version)
    if manifest.workload != "triton":
        raise ModelRepositoryError(f"{repository / version} is a {manifest.workload} version, "
                                   "not a snapshot of a Triton repository: serve it with the built-in node")  # fmt: skip
    for leftover in shm_leftovers(node):  # a killed predecessor's regions, under this node's prefix
        leftover.unlink(missing_ok=True)
    linked_copy(repository / version / REPOSITORY, workspace / REPOSITORY)
    backend_folder(workspace)


def linked_copy(source: Path, dest: Path) -> Path:
    """``source``'s tree rebuilt at ``dest`` with its files hard-linked (copied across filesystems).

    The Python backend's stub writes ``__pycache__`` beside each ``model.py`` (its embedded
    interpreter ignores PYTHONDONTWRITEBYTECODE); in the region's repository that would be a
    file its manifest does not list. The links share the region's file contents, so a fault
    that corrupts a file in place reaches the node as on a real disk, while the folders, and
    what Python writes into them, are the node's own.
    """
    shutil.rmtree(dest, ignore_errors=True)
    for folder, _, files in os.walk(source):
        target = dest / Path(folder).relative_to(source)
        target.mkdir(parents=True, exist_ok=True)
        for name in files:
            try:
                os.link(Path(folder) / name, target / name)
            except OSError:
                shutil.copy2(Path(folder) / name, target / name)
    return dest


def server_arguments(plan: NodePlan, served: Path, backends: Path) -> list[str]:
    binary = tritonserver_home() / "bin" / "tritonserver"
    return [
        str(binary), "--model-repository", str(served),
        "--backend-directory", str(backends), "--strict-readiness", "true", "--exit-on-error", "true",
        "--http-address", plan.address, "--http-port", str(plan.http_port),
        "--grpc-address", plan.address, "--grpc-port", str(plan.grpc_port),
        "--allow-metrics", "true", "--metrics-address", plan.address, "--metrics-port", str(plan.metrics_port),
        "--allow-gpu-metrics", "false", "--allow-cpu-metrics", "false",
        "--backend-config", f"python,shm-region-prefix-name={SHM_PREFIX}{plan.node}_",
    ]  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """Verify and prepare, then become ``tritonserver`` (the arguments after ``--``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    split = args.index("--") if "--" in args else len(args)
    parser = argparse.ArgumentParser(prog="python -m drillkit.workload.node", description=__doc__.split("\n")[0])
    parser.add_argument("--repository", type=Path, required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--node", required=True)
    parser.add_argument("--workspace", type=Path, required=True)
    ns, server = parser.parse_args(args[:split]), args[split + 1 :]
    if not server:
        parser.error("the tritonserver command goes after --")
    try:
        prepare(ns.repository, ns.version, ns.node, ns.workspace)
    except ModelRepositoryError as exc:
        print(f"refusing model {ns.version}: {exc}", file=sys.stderr, flush=True)
        return 2
    try:
        os.execv(server[0], server)
    except OSError as exc:
        print(f"cannot start {server[0]}: {exc}", file=sys.stderr, flush=True)
    return 1  # reached only when the exec failed


if __name__ == "__main__":
    sys.exit(main())
