"""Synthetic run folders for report, gate, history and suite tests.

A run folder as ``drillkit run`` writes it: ``journal.json`` (written through the real
:class:`~drillkit.journal.Journal` model, so every fake journal validates against the schema),
``timeline.jsonl`` and the request log (``request_log/requests.parquet``, the compacted form the runner leaves), with
a region outage between ``fault_at`` and ``fault_at + outage_s`` (requests fail, then the
standby serves). Optional journal sections are passed in ``sections``.

>>> run = make_run(tmp_path / "r1", name="region-outage", rto_s=2.0)   # doctest: +SKIP
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from drillkit.journal import parse_journal, write_journal
from drillkit.request_log import COMPACT_NAME, RECORD_COLUMNS

T0 = 1_780_000_000.0  # 2026-05-28: a fixed start, so every figure is exact


def make_run(folder: Path, *, name: str = "region-outage", duration_s: float = 60.0, rps: float = 50.0,
             fault_at: float = 20.0, outage_s: float = 2.0, rollback_at: float = 40.0, rto_s: float | None = 2.0,
             rto_budget_s: float = 5.0, failed: int | None = None, exit_code: int | None = None,
             checks: list[dict[str, Any]] | None = None, generated_at: float | None = None,
             sections: dict[str, Any] | None = None, restore_budgets: dict[str, float] | None = None) -> Path:  # fmt: skip
    """Write a complete run folder and return it."""
    folder.mkdir(parents=True, exist_ok=True)
    log = request_log(duration_s=duration_s, rps=rps, fault_at=fault_at, outage_s=outage_s, rollback_at=rollback_at)
    (folder / "request_log").mkdir(exist_ok=True)
    log.to_parquet(folder / "request_log" / COMPACT_NAME, index=False)
    n_failed = int((log["outcome"] != "ok").sum()) if failed is None else failed
    timeline = _timeline(fault_at, rollback_at, duration_s)
    (folder / "timeline.jsonl").write_text("".join(json.dumps(e) + "\n" for e in timeline))
    checks = checks if checks is not None else [
        {"name": "rollback", "verdict": "PASS", "detail": "every fault was undone"},
        {"name": "recovery", "verdict": "PASS" if rto_s is not None and rto_s <= rto_budget_s else "FAIL",
         "detail": f"RTO {rto_s if rto_s is not None else float('inf'):.2f} s (budget {rto_budget_s:g} s)"},
    ]  # fmt: skip
    journal = {
        "schema_version": 2,
        "drill": {"name": name, "environment": "drills/environments/local.yaml", "experiment": f"chaos/{name}.json",
                  "load": {"trace": "loadtests/traces/drill.parquet", "speed": 1.0, "warmup_s": 5, "cooldown_s": 5},
                  "slo": {"p99_ms": 250.0, "error_budget": 0.01, "window_s": 1.0},
                  "recovery": {"rto_budget_s": rto_budget_s, "stable_for_s": 3.0, **(restore_budgets or {})},
                  "fail_on": {"max_failed_requests": None, "wrong_answers": True, "capacity": True}},
        "environment": {"name": "local", "platform": "local", "regions": [
            {"name": "primary", "role": "primary", "nodes": 2}, {"name": "standby", "role": "standby", "nodes": 2}],
            "gateway": {"mode": "active-passive", "check_interval_ms": 500, "fall": 2, "rise": 2, "retries": 6},
            "model": {"version": "v1", "items": 50000, "dim": 64, "device": "cpu", "max_batch_size": 64}},
        "versions": {"drillkit": "0.1.0", "locust": "2.47.0", "torch": "2.13.0"},
        "generated_at": generated_at if generated_at is not None else T0 + duration_s + 1,
        "interrupted": False, "fault_start": T0 + fault_at, "rollback_end": T0 + rollback_at,
        "injecting_since": T0 + fault_at - 0.3, "faulted": ["primary-0", "primary-1"],
        "capacity": {"ok": True, "reason": "standby ready"},
        "measurements": {"requests": len(log), "failed_requests": n_failed, "failed_during_incident": n_failed,
                         "ttd_s": 0.4, "rto_s": "never" if rto_s is None else rto_s, "resolution_s": 0.1,
                         "outage_s": outage_s, "worst_p99_s": 0.9, "error_budget_consumed": n_failed / (0.01 * len(log)),
                         "failback_s": 1.5},
        "checks": checks,
        "exit_code": exit_code if exit_code is not None else (0 if all(c["verdict"] == "PASS" for c in checks) else 1),
        "undone": [{"fault": "crash_region", "undo": "restart_nodes", "args": {"nodes": ["primary-0", "primary-1"]}, "error": None}],
        "timeline": timeline,
        "chaos_journal": {"status": "completed"},
        **(sections or {}),
    }  # fmt: skip
    write_journal(folder, parse_journal(journal, where=str(folder)))
    return folder


def request_log(*, duration_s: float, rps: float, fault_at: float, outage_s: float, rollback_at: float) -> pd.DataFrame:
    """An evenly spaced request log: failures during the outage, the standby until rollback."""
    n = int(duration_s * rps)
    rel = np.arange(n) / rps
    down = (rel >= fault_at) & (rel < fault_at + outage_s)
    standby = (rel >= fault_at) & (rel < rollback_at)
    latency = 0.004 + (np.arange(n) % 7) * 0.001 + np.where(standby, 0.01, 0.0)
    frame = pd.DataFrame({
        "row": np.arange(n), "kind": np.where(np.arange(n) % 3 == 0, "search", "recommend"),
        "scheduled_at": T0 + rel, "sent_at": T0 + rel + 0.0005, "latency_s": np.where(down, 0.5, latency),
        "outcome": np.where(down, "error", "ok"), "error_class": np.where(down, "http_5xx", ""),
        "status": np.where(down, 503, 200), "region": np.where(standby, "standby", "primary"),
        "node": np.where(standby, "standby-0", "primary-0"), "worker": "w0", "version": "v1",
    })  # fmt: skip
    return frame[list(RECORD_COLUMNS)]


def _timeline(fault_at: float, rollback_at: float, duration_s: float) -> list[dict[str, Any]]:
    return [
        {"event": "drill_started", "at": T0 - 5, "drill": "region-outage"},
        {"event": "activity_started", "at": T0 + fault_at - 0.3, "name": "crash-primary-region", "type": "action",
         "func": "region_outage", "arguments": {"region": "primary"}},
        {"event": "activity_ended", "at": T0 + fault_at, "name": "crash-primary-region", "type": "action",
         "func": "region_outage", "arguments": {"region": "primary"}, "status": "succeeded",
         "output": {"fault": "region_outage", "targets": ["primary-0", "primary-1"], "layer": "node", "region": "primary",
                    "injected_at": T0 + fault_at, "detail": {}}},
        {"event": "gateway_state", "at": T0 + fault_at + 0.4, "node": "primary-0", "state": "DOWN"},
        {"event": "rollback_started", "at": T0 + rollback_at - 1},
        {"event": "rollback_ended", "at": T0 + rollback_at, "undone": []},
        {"event": "drill_ended", "at": T0 + duration_s, "load_stopped_at": T0 + duration_s},
    ]  # fmt: skip


def all_sections(*, slo_verdict: str = "PASS", rpo_s: float = 120.0, restore_time_s: float = 8.0) -> dict[str, Any]:
    """Every optional journal section, as issues 5, 6 and 7 write them."""
    long_query = ('sum(rate(drillkit_client_requests_total{outcome!="ok"}[30s])) / '
                  'sum(rate(drillkit_client_requests_total[30s])) + 0 * sum by (region) (up{job="triton"})')  # fmt: skip
    points = [[T0 + i, 0.5 + 0.01 * i] for i in range(60)]
    return {
        "release": {"release": "v2.4.0-rc1", "commit": "0123456789abcdef0123456789abcdef01234567"},
        "slos": [
            {"name": "availability", "kind": "error_ratio", "query": long_query, "window_s": 30.0, "threshold": 0.01,
             "comparison": "<=", "value": 0.004, "verdict": slo_verdict, "allow_no_data": False, "unit": "ratio",
             "evaluate": "worst", "at": T0 + 41, "detail": "worst 0.004 ratio (objective <= 0.01)", "source": "prometheus"},
            {"name": "latency-p99", "kind": "latency", "window_s": 30.0, "threshold": 0.25, "comparison": "<=",
             "query": "histogram_quantile(0.99, sum by (le) (rate(drillkit_client_latency_seconds_bucket[30s])))",
             "value": 0.031, "verdict": "PASS", "allow_no_data": False, "unit": "s", "evaluate": "worst", "at": T0 + 22,
             "detail": "worst 0.031 s (objective <= 0.25)", "source": "prometheus"},
        ],
        "cross_check": {"ttd_log_s": 0.4, "ttd_prom_s": 1.0, "ttd_diff_s": 0.6, "rto_log_s": 2.0, "rto_prom_s": 3.0,
                        "rto_diff_s": 1.0, "scrape_interval_s": 1.0, "flagged": False, "note": "within two scrapes"},
        "series": {
            "error_ratio": {"query": long_query, "step_s": 1.0, "unit": "ratio",
                            "series": [{"labels": {}, "points": points}]},
            "gpu_utilization": {"query": "nv_gpu_utilization", "step_s": 1.0, "unit": "ratio",
                                   "series": [{"labels": {"node": "primary-0", "gpu_uuid": "GPU-1"}, "points": points}]},
            "gpu_memory_used_bytes": {"query": "nv_gpu_memory_used_bytes", "step_s": 1.0, "unit": "bytes",
                                      "series": [{"labels": {"node": "primary-0"}, "points": points}]},
            "gpu_power_watts": {"query": "nv_gpu_power_usage", "step_s": 1.0, "unit": "W", "series": []},  # found nothing
        },
        "abort": None,  # no guard tripped
        "restore": {"restored": True, "backup_id": "bk-20260528-0300", "backup_created_at": T0 - rpo_s, "failure_at": T0 + 20,
                    "restore_started_at": T0 + 21, "restore_ended_at": T0 + 21 + restore_time_s,
                    "restore_time_s": restore_time_s, "rpo_s": rpo_s, "versions_lost": ["v2"], "versions_lost_count": 1,
                    "golden_identical": True, "refused": [{"backup_id": "bk-x", "object": "v1/model.pt", "reason": "sha256 mismatch"}]},
    }  # fmt: skip
