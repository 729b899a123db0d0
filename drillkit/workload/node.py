"""A node serving a user's Triton repository: ``tritonserver`` on a verified snapshot.

Like the built-in recommender's node, a node never serves a version that does not match its
manifest: ``prepare`` verifies it *first* and raises ModelRepositoryError (the start is
refused). Then it returns the command of ``tritonserver`` (the binary bundled in
nvidia-pytriton) on the snapshot's ``repository/`` folder, bound to one address; the platform
spawns that binary itself, so the process drillkit supervises and faults is Triton's own.

The bundled server ships only the Python backend, and its stub must match this interpreter:
``prepare`` builds a backend folder in the node's workspace holding the backend library, its
utilities and ``python_backend_stubs/3.X/triton_python_backend_stub``. The stub finds its
interpreter through ``PATH`` (this venv's ``bin`` first, so models import this venv's numpy,
which the stub was built against) and links ``libpython`` from ``LD_LIBRARY_PATH``
(``drillkit.model.node.node_environment``). Its shared-memory regions carry the node's own
prefix, so the ones a killed node leaves are found and removed (``shm_leftovers``).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
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


def prepare(plan: NodePlan, base_env: Mapping[str, str], python: str) -> tuple[list[str], dict[str, str]]:
    """Verify the version, build the node's backend folder; the tritonserver command and environment."""
    manifest = verify(plan.repository / plan.version)
    if manifest.workload != "triton":
        raise ModelRepositoryError(f"{plan.repository / plan.version} is a {manifest.workload} version, "
                                   "not a snapshot of a Triton repository: serve it with the built-in node")  # fmt: skip
    for leftover in shm_leftovers(plan.node):  # a killed predecessor's regions, under this node's prefix
        leftover.unlink(missing_ok=True)
    served = linked_copy(plan.repository / plan.version / REPOSITORY, plan.workspace / REPOSITORY)
    return server_arguments(plan, served, backend_folder(plan.workspace)), stub_environment(base_env, python)


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
