"""Benchmark: the knee of one node on this machine, and the time to scale a region out by one node
(``make bench``; not part of ``make test``).

A 1x1 environment (one node a region, each allowed a second) serves the built-in model with
a catalogue of ``ITEMS`` items. The shipped capacity drill ramps the primary region alone
(from 10 req/s, x1.2 every 3 s, up to 600) beside the drill's light load, and prints each step
and the knee; a step the load generator fell behind on is marked and never counts. Then the
primary is scaled to two nodes and back, ``ROUNDS`` times, through the platform's
``scale_region``: time to scale out runs from the request until the new node is UP at the
gateway, time to scale in from the request until the drained node is gone. Every loop is
bounded, and all traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import yaml
from rich.console import Console
from rich.table import Table

from drillkit.drill import run_drill
from drillkit.journal import read_journal
from drillkit.plan import plan_drill
from drillkit.platforms.local import LocalPlatform
from drillkit.platforms.provision import ensure_built
from drillkit.spec import load_environment

REPO = Path(__file__).resolve().parents[2]
ITEMS = 200_000
ROUNDS = 3
RAMP = {"region": "primary", "start_rps": 10, "growth": 1.2, "max_rps": 600, "step_s": 3, "max_lag_ms": 10}


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="drillkit-bench-cap-") as tmp:
        folder = Path(tmp)
        spec = load_environment(REPO / "drills/environments/local.yaml")
        regions = tuple(r.model_copy(update={"nodes": 1, "max_nodes": 2}) for r in spec.regions)
        spec = spec.model_copy(update={"state_dir": folder / "state", "name": "bench-capacity", "regions": regions,
                                       "model": spec.model.model_copy(update={"items": ITEMS})})  # fmt: skip
        ensure_built(spec.model, spec.state_dir / "models")
        env_file = folder / "env.yaml"
        env_file.write_text(yaml.safe_dump(spec.model_dump(mode="json")))
        platform = LocalPlatform(spec, spec_file=str(env_file))
        platform.up()
        try:
            curve = _knee(folder, env_file)
            scaling = _scale(platform)
        finally:
            platform.down()
    figures = {"items": ITEMS, "curve": curve, "scaling": scaling}
    _print(figures)
    print(json.dumps(figures, indent=2))


def _knee(folder: Path, env_file: Path) -> dict[str, object]:
    experiment = json.loads((REPO / "chaos/capacity.json").read_text())
    experiment["method"] = [experiment["method"][0]]
    experiment["method"][0]["provider"]["arguments"] = RAMP
    (folder / "capacity.json").write_text(json.dumps(experiment))
    drill = yaml.safe_load((REPO / "drills/capacity.yaml").read_text())
    drill.update(environment=str(env_file), experiment=str(folder / "capacity.json"), bring_up=False)
    drill["load"]["trace"] = str(REPO / "loadtests/traces/drill.parquet")
    (folder / "capacity.yaml").write_text(yaml.safe_dump(drill))
    result = run_drill(plan_drill(folder / "capacity.yaml"), reports=folder / "reports")
    journal = read_journal(result.run_dir / "journal.json")
    assert journal.capacity_curve is not None, "the ramp wrote no curve"
    return journal.capacity_curve.regions[0].model_dump(mode="json")


def _scale(platform: LocalPlatform) -> list[dict[str, float]]:
    rounds = []
    for _ in range(ROUNDS):
        out = platform.scale_region("primary", 2)
        back = platform.scale_region("primary", 1)
        rounds.append({"out_s": round(out.time_to_scale_s, 2), "ready_s": round(out.ready_at - out.requested_at, 2),
                       "in_s": round(back.time_to_scale_s, 2)})  # fmt: skip
    return rounds


def _print(figures: dict[str, object]) -> None:
    console = Console()
    curve = figures["curve"]
    table = Table(title=f"one node of the built-in model ({ITEMS:,} items): the primary region ramped")
    for column in ("offered", "achieved", "p50", "p99", "errors", "generator lag p99", "verdict"):
        table.add_column(column)
    for s in curve["steps"]:  # type: ignore[index]
        verdict = "generator-limited" if s["generator_limited"] else "within SLO" if s["within_slo"] else "past the SLO"
        table.add_row(f"{s['offered_rps']:g}/s", f"{s['achieved_rps']:g}/s", f"{s['p50_ms']} ms", f"{s['p99_ms']} ms",
                      f"{s['error_ratio']:.1%}", f"{s['lag_p99_ms']:g} ms", verdict)  # fmt: skip
    console.print(table)
    console.print(f"knee of one node: {curve['knee_rps']} req/s (limited by {curve['limited_by']})")  # type: ignore[index]
    rounds = figures["scaling"]
    scale = Table(title="the primary region scaled 1 -> 2 -> 1 nodes, live")
    for column in ("round", "to ready", "to serving (time to scale out)", "scale in (drained)"):
        scale.add_column(column)
    for i, r in enumerate(rounds, 1):  # type: ignore[arg-type]
        scale.add_row(str(i), f"{r['ready_s']:.2f} s", f"{r['out_s']:.2f} s", f"{r['in_s']:.2f} s")
    console.print(scale)


if __name__ == "__main__":
    main()
