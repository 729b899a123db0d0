"""A Triton inference node: ``python -m drillkit.model.node --repository ROOT --version V ...``.

Order matters: the manifest is verified *first*, and a node refuses (exit 2) to serve a
version that does not match it. Then the weights go onto the device and PyTriton binds the
two models with dynamic batching. One batch of requests with different ``k`` is scored in a
single matmul with the largest ``k`` and sliced per request.

PyTriton passes every request between Triton's Python-backend stub and this process. Its
default shared-memory tensor store costs a round trip to a block-manager process per tensor,
so for these tiny tensors (a user id, ``k``, twenty answers) the node passes them inline
instead (``--ipc inline``; ``--ipc tensorstore`` restores PyTriton's default).

A malformed request (``k`` out of range, unknown user) raises inside the infer function,
which PyTriton turns into an error for the whole dynamic batch it arrived in; traces are
validated before replay, so the load generator never sends one.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import site
import sys
import sysconfig
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import numpy as np

from drillkit.errors import ModelRepositoryError
from drillkit.model.repository import Manifest, verify

if TYPE_CHECKING:
    from drillkit.model.serving import DeviceHealth

REFUSED = 2


def node_command(
    python: str,
    *,
    repository: Path,
    version: str,
    region: str,
    node: str,
    http_port: int,
    grpc_port: int,
    metrics_port: int,
    device: str,
    max_batch_size: int,
    max_queue_delay_us: int,
    workspace: Path,
    instances: int = 0,
    ipc: str = "inline",
) -> list[str]:
    """The command line that starts one node (``instances`` 0: one on CPU, two on a GPU)."""
    return [
        python, "-m", "drillkit.model.node", "--repository", str(repository), "--version", version,
        "--region", region, "--node", node, "--http-port", str(http_port), "--grpc-port", str(grpc_port),
        "--metrics-port", str(metrics_port), "--device", device, "--max-batch-size", str(max_batch_size),
        "--max-queue-delay-us", str(max_queue_delay_us), "--workspace", str(workspace),
        "--instances", str(instances), "--ipc", ipc,
    ]  # fmt: skip


def node_environment(base: Mapping[str, str]) -> dict[str, str]:
    """Environment for a node process.

    Triton's Python-backend stub links ``libpython``; this interpreter's own lives in
    ``sysconfig``'s LIBDIR, which the loader does not search, and without it the model fails
    to load (``RLock ... _recursion_count``). On GPU machines the libraries PyTriton ships
    (``nvidia_pytriton.libs``) must be found too.
    """
    paths = [str(sysconfig.get_config_var("LIBDIR"))]
    for packages in site.getsitepackages():
        libs = Path(packages) / "nvidia_pytriton.libs"
        if libs.is_dir():
            paths.append(str(libs))
    if base.get("LD_LIBRARY_PATH"):
        paths.append(base["LD_LIBRARY_PATH"])
    return {**base, "LD_LIBRARY_PATH": ":".join(paths), "PYTHONUNBUFFERED": "1"}


def shm_leftovers(pid: int) -> list[Path]:
    """Shared-memory files a SIGKILLed node leaves (PyTriton's prefix is spelt 'pytrtion')."""
    return sorted(Path("/dev/shm").glob(f"pytrtion{pid}-*"))


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    who = f"drillkit node {args.region}/{args.node}"
    try:
        manifest = verify(args.repository / args.version)
    except ModelRepositoryError as exc:
        print(f"{who}: refusing to serve: {exc}", file=sys.stderr)
        return REFUSED
    signal.signal(signal.SIGTERM, _interrupt)  # PyTriton shuts Triton down cleanly on KeyboardInterrupt
    try:
        _serve(args, manifest, who)
    except KeyboardInterrupt:
        pass
    return 0


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


# GPU faults reach a node as signals sent to its main process (never to its group: SIGUSR1
# would kill tritonserver). SIGUSR1: device lost (Xid 79): inference fails and the models
# are unloaded, so readiness drops. SIGUSR2: double-bit ECC error (Xid 48): inference fails
# but Triton still reports ready, as it does on real hardware. SIGURG (ignored by default,
# and never raised here: no socket of ours gets out-of-band data): a memory hog on the
# device asks the node to hand back its cached device memory (see DeviceHealth).
DEVICE_LOST_SIGNAL = signal.SIGUSR1
ECC_ERROR_SIGNAL = signal.SIGUSR2
MEMORY_PRESSURE_SIGNAL = signal.SIGURG


def _serve(args: argparse.Namespace, manifest: Manifest, who: str) -> None:
    from pytriton.triton import Triton, TritonConfig, TritonSecurityConfig

    from drillkit.model.recommender import Recommender, resolve_device
    from drillkit.model.serving import DeviceHealth, bind_models

    device = resolve_device(args.device)
    weights = {p.stem: np.load(p) for p in sorted((args.repository / args.version / "weights").glob("*.npy"))}
    model = Recommender(weights, device, work=manifest.model_params().work)
    if args.ipc == "inline":
        os.environ["PYTRITON_NO_TENSORSTORE"] = "1"  # read by this process and by Triton's stubs, which inherit it
    config = TritonConfig(
        http_address=args.address, http_port=args.http_port, grpc_address=args.address, grpc_port=args.grpc_port,
        metrics_port=args.metrics_port, allow_grpc=True, allow_metrics=True,
    )  # fmt: skip
    # PyTriton creates the workspace itself and refuses one that exists (a crashed run's).
    shutil.rmtree(args.workspace, ignore_errors=True)
    args.workspace.parent.mkdir(parents=True, exist_ok=True)
    security = TritonSecurityConfig()  # its token lets this process unload its own models
    health = DeviceHealth()
    _on_gpu_faults(health, who, args.http_port, security.access_token or "")
    with Triton(config=config, workspace=args.workspace, security_config=security) as triton:
        instances = args.instances or (2 if device.type == "cuda" else 1)
        bind_models(triton, model, health, max_batch_size=args.max_batch_size, max_queue_delay_us=args.max_queue_delay_us,
                    instances=instances)  # fmt: skip
        print(f"{who} serving model {manifest.version} (manifest sha256 {manifest.sha256[:12]}) on {device}, "
              f"{instances} instance(s) per model, {args.ipc} IPC", flush=True)  # fmt: skip
        triton.serve()


def _on_gpu_faults(health: DeviceHealth, who: str, http_port: int, token: str) -> None:
    import threading

    def lost(signum: int, frame: FrameType | None) -> None:
        health.xid = 79
        print(f"{who}: GPU fault injected: Xid 79, device lost; unloading models", flush=True)
        threading.Thread(target=_unload_models, args=(http_port, token), daemon=True).start()

    def ecc(signum: int, frame: FrameType | None) -> None:
        health.xid = 48
        print(f"{who}: GPU fault injected: Xid 48, double-bit ECC error", flush=True)

    def pressure(signum: int, frame: FrameType | None) -> None:
        if not health.under_pressure():
            print(f"{who}: device memory pressure: handing cached device memory back after every batch", flush=True)
        health.pressure()

    signal.signal(DEVICE_LOST_SIGNAL, lost)
    signal.signal(ECC_ERROR_SIGNAL, ecc)
    signal.signal(MEMORY_PRESSURE_SIGNAL, pressure)


def _unload_models(http_port: int, token: str) -> None:
    import http.client

    for model in ("recommend", "search"):
        conn = http.client.HTTPConnection("127.0.0.1", http_port, timeout=10)
        try:
            conn.request("POST", f"/v2/repository/models/{model}/unload", body=b"{}",
                         headers={"triton-access-token": token, "Content-Type": "application/json"})  # fmt: skip
            print(f"unload {model}: HTTP {conn.getresponse().status}", flush=True)
        except OSError as exc:
            print(f"unload {model} failed: {exc}", flush=True)
        finally:
            conn.close()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m drillkit.model.node", description=__doc__.split("\n")[0])
    p.add_argument("--repository", type=Path, required=True)
    p.add_argument("--version", required=True)
    p.add_argument("--region", required=True)
    p.add_argument("--node", required=True)
    p.add_argument("--http-port", type=int, required=True)
    p.add_argument("--grpc-port", type=int, required=True)
    p.add_argument("--metrics-port", type=int, required=True)
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--max-batch-size", type=int, default=64)
    p.add_argument("--max-queue-delay-us", type=int, default=500)
    p.add_argument("--workspace", type=Path, required=True)
    p.add_argument("--address", default="127.0.0.1",
                   help="address to serve on (metrics follow it); 0.0.0.0 in a pod, where probes and Services come from outside")
    p.add_argument("--instances", type=_instances, default=0, help="model instances per model; 0: one on CPU, two on a GPU")
    p.add_argument("--ipc", default="inline", choices=("inline", "tensorstore"), help="how PyTriton passes tensors to this process")
    return p


def _instances(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 16:
        raise argparse.ArgumentTypeError(f"{value} is outside 0..16 (0: one on CPU, two on a GPU)")
    return value


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
