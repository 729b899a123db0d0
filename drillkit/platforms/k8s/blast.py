"""Attach mode's blast radius: exactly what each fault of an experiment will touch, read from
the clusters before anything is touched (``drillkit validate``, ``run --dry-run``, every run).

A fault that would touch more pods than ``kubernetes.max_targets`` allows, a selector that
finds nothing, or a region stop whose pods belong to several controllers is refused here,
with the fix.

>>> blast_radius(platform, experiment, "chaos/region-outage.json")     # doctest: +SKIP
['crash-primary-region: scale Deployment recsys-a from 4 to 0 (kind-a/recsys) and delete 4 pods: recsys-a-...']
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from drillkit.errors import SpecError
from drillkit.platforms.k8s.discover import FoundPod, Region
from drillkit.platforms.k8s.node_faults import GPU_TAINT

if TYPE_CHECKING:
    from drillkit.platforms.attached import AttachedPlatform

_POD_FAULTS = {"crash_node", "hang_node", "partition", "gpu_device_lost", "gpu_ecc_error", "gpu_memory_pressure",
               "gpu_compute_pressure"}  # fmt: skip
_XID = {"gpu_device_lost": 79, "gpu_ecc_error": 48}


def blast_radius(p: AttachedPlatform, experiment: dict[str, Any], experiment_file: str) -> list[str]:
    """One line per fault activity of the method: what it will touch (SpecError: refused)."""
    lines = []
    for i, activity in enumerate(experiment.get("method") or []):
        provider = activity.get("provider") or {}
        if provider.get("module") != "drillkit.chaos.actions":
            continue
        func, args = str(provider.get("func", "")), provider.get("arguments") or {}
        where = (experiment_file, f"method[{i}] ({activity.get('name')})")
        touched = _touches(p, func, args, where)
        if touched is not None:
            lines.append(f"{activity.get('name')}: {touched}")
    return lines


def _touches(p: AttachedPlatform, func: str, args: dict[str, Any], where: tuple[str, str]) -> str | None:
    if func == "region_outage":
        found = _region(p, str(args.get("region", "")), where)
        _capped(p, found, len(found.pods), where)
        kind, name = _controller(p, found, where)
        replicas = found.replicas.get((kind, name), (len(found.pods), 0))[0]
        return (f"scale {kind} {name} from {replicas} to 0 ({found.context}/{found.namespace}) and delete "
                f"{len(found.pods)} pods: {_names(found.pods)}")  # fmt: skip
    if func == "scale_out":
        found = _region(p, str(args.get("region", "")), where)
        kind, name = _controller(p, found, where)
        return f"scale {kind} {name} from {len(found.pods)} to {args.get('nodes')} ({found.context}/{found.namespace})"
    if func not in _POD_FAULTS:
        return None
    found, pods = _targets(p, str(args.get("target", "")), where)
    _capped(p, found, len(pods), where)
    hosts = sorted({x.host for x in pods if x.host})
    on = f"{found.context}/{found.namespace}"
    if func == "crash_node":
        return f"delete {len(pods)} pod{'s' if len(pods) != 1 else ''} ({on}): {_names(pods)}"
    if func == "hang_node":
        evicted = [x for x in found.pods if x.host in hosts]
        _capped(p, found, len(evicted), where)
        return f"cordon node{'s' if len(hosts) != 1 else ''} {', '.join(hosts)} and evict {len(evicted)} pods ({on}): {_names(evicted)}"
    if func in _XID:
        deleted = [x for x in found.pods if x.host in hosts]
        _capped(p, found, len(deleted), where)
        return (f"taint ({GPU_TAINT}={_XID[func]}:NoSchedule) and cordon node{'s' if len(hosts) != 1 else ''} {', '.join(hosts)}, "
                f"delete {len(deleted)} pods ({on}): {_names(deleted)}")  # fmt: skip
    if func == "partition":
        return f"label {len(pods)} pods and create a deny-all NetworkPolicy for each ({on}): {_names(pods)}"
    return f"create {len(pods)} hog pod{'s' if len(pods) != 1 else ''} on {', '.join(hosts)} ({on}) beside {_names(pods)}"


def _region(p: AttachedPlatform, region: str, where: tuple[str, str]) -> Region:
    if region not in {r.name for r in p.spec.regions}:
        raise SpecError(*where, f"no region {region!r}", f"use one of: {', '.join(r.name for r in p.spec.regions)}")
    return p.discover(region)


def _targets(p: AttachedPlatform, target: str, where: tuple[str, str]) -> tuple[Region, list[FoundPod]]:
    """A region's pods, or one node's pod (``us-east-1-2``: the third pod by name)."""
    if target in {r.name for r in p.spec.regions}:
        found = p.discover(target)
        return found, list(found.pods)
    region = target.rpartition("-")[0]
    if region in {r.name for r in p.spec.regions}:
        found = p.discover(region)
        pod = found.node_pods().get(target)
        if pod is not None:
            return found, [pod]
        raise SpecError(*where, f"no node {target!r}: {region} has {len(found.pods)} pods now ({region}-0 .. {region}-{len(found.pods) - 1})",
                        "target the region, or a node it has")  # fmt: skip
    raise SpecError(*where, f"no region or node {target!r}", f"use one of: {', '.join(r.name for r in p.spec.regions)} or their nodes")


def _controller(p: AttachedPlatform, found: Region, where: tuple[str, str]) -> tuple[str, str]:
    try:
        return found.controller_ref(p.named_controller(found.region))
    except SpecError as exc:
        raise SpecError(*where, exc.problem, exc.fix) from None


def _capped(p: AttachedPlatform, found: Region, count: int, where: tuple[str, str]) -> None:
    cap = p.k8s.cap(len(found.pods))
    if cap is not None and count > cap:
        raise SpecError(*where, f"would touch {count} of {found.region}'s {len(found.pods)} pods; kubernetes.max_targets "
                                f"({p.k8s.max_targets}) allows {cap}", "target fewer pods, or raise max_targets")  # fmt: skip


def _names(pods: list[FoundPod]) -> str:
    shown = [x.name for x in pods[:8]]
    return ", ".join(shown) + (f" and {len(pods) - 8} more" if len(pods) > 8 else "")
