"""The journal's restore section and its checks, from exact synthetic timelines."""

from __future__ import annotations

from typing import Any

import pytest

from drillkit.backup.section import restore_section
from drillkit.errors import SpecError
from drillkit.events import EVENT, Event
from drillkit.measure import restore_time, rpo, versions_lost
from drillkit.spec import DrillSpec
from drillkit.verdict import restore_checks


def spec(**recovery: float) -> DrillSpec:
    return DrillSpec.model_validate({"name": "t", "environment": "e.yaml", "experiment": "x.yaml", "load": {"trace": "t.csv"},
                                     "recovery": {"rto_budget_s": 5, **recovery}})  # fmt: skip


def ended(func: str, output: dict[str, Any], at: float) -> Event:
    return EVENT.validate_python({"event": "activity_ended", "at": at, "func": func, "name": func, "status": "succeeded",
                                  "output": output})  # fmt: skip


FAULT = {"fault": "destroy_model_repository", "region": "primary", "targets": ["primary-0"], "layer": "repository",
         "detail": {"versions": ["v1", "v2", "v3"]}, "injected_at": 1000.0}  # fmt: skip
RESTORED = {"restored": True, "region": "primary", "backup_id": "b2", "backup_created_at": 970.5, "versions": ["v1", "v2"],
            "serving_version": "v1", "started_at": 1003.0, "verified_at": 1010.0, "ended_at": 1020.25,
            "golden_identical": True, "golden_detail": "32 identical", "refused": [{"backup_id": "b3", "object": "objects/ab/ab", "reason": "bad"}],
            "bytes": 10}  # fmt: skip


def timeline(restore: dict[str, Any] | None = RESTORED) -> list[Event]:
    events = [EVENT.validate_python({"event": "drill_started", "at": 990.0, "drill": "t"}), ended("destroy_model_repository", FAULT, 1000.1)]
    return events + ([ended("restore_model_repository", restore, 1020.3)] if restore is not None else [])


def test_measurements_are_plain_arithmetic() -> None:
    assert rpo(1000.0, 970.5) == 29.5 and rpo(None, 970.5) is None and rpo(960.0, 970.5) == 0.0
    assert versions_lost(["v3", "v1", "v2"], ["v1", "v2"]) == ["v3"] and versions_lost(["v1"], ["v1", "v9"]) == []
    assert restore_time(1003.0, 1020.25) == 17.25


def test_the_section_holds_rpo_restore_time_and_lost_versions() -> None:
    r = restore_section(timeline())
    assert r is not None
    assert (r.failure_at, r.backup_id, r.backup_created_at) == (1000.0, "b2", 970.5)
    assert r.rpo_s == 29.5 and r.restore_time_s == 17.25
    assert (r.versions_lost, r.versions_lost_count, r.golden_identical) == (["v3"], 1, True)
    assert (r.restore_started_at, r.restore_verified_at, r.restore_ended_at) == (1003.0, 1010.0, 1020.25)
    assert r.refused == RESTORED["refused"]
    assert restore_section(timeline(None)) is None


def test_checks_pass_within_budget_and_fail_beyond() -> None:
    r = restore_section(timeline())
    checks = {c.name: c for c in restore_checks(spec(rpo_budget_s=30, restore_budget_s=20), r)}
    assert {n: c.verdict.value for n, c in checks.items()} == {"rpo": "PASS", "restore_time": "PASS", "restored_answers": "PASS"}
    assert "1 model versions lost ['v3']" in checks["rpo"].detail and "b2" in checks["rpo"].detail
    checks = {c.name: c.verdict.value for c in restore_checks(spec(rpo_budget_s=29, restore_budget_s=17), r)}
    assert checks == {"rpo": "FAIL", "restore_time": "FAIL", "restored_answers": "PASS"}
    wrong = restore_section(timeline({**RESTORED, "golden_identical": False, "golden_detail": "primary-1: items differ"}))
    check = next(c for c in restore_checks(spec(), wrong) if c.name == "restored_answers")
    assert check.verdict.value == "FAIL" and "items differ" in check.detail


def test_a_restore_drill_that_restored_nothing_is_no_data_never_a_pass() -> None:
    checks = restore_checks(spec(rpo_budget_s=60), restore_section(timeline(None)))
    assert [(c.name, c.verdict.value) for c in checks] == [("rpo", "NO_DATA"), ("restore_time", "NO_DATA"), ("restored_answers", "NO_DATA")]
    assert restore_checks(spec(), None) == []  # not a restore drill


def test_a_refused_restore_fails_every_check_with_the_reason() -> None:
    failed = {"restored": False, "region": "primary", "error": "could not restore primary: backup b1 refused", "refused": []}
    r = restore_section(timeline(failed))
    assert r is not None and r.restored is False and r.rpo_s is None
    checks = restore_checks(spec(restore_budget_s=60), r)
    assert {c.verdict.value for c in checks} == {"FAIL"} and all("b1 refused" in c.detail for c in checks)


@pytest.mark.parametrize("func", ["corrupt_model_repository", "destroy_model_repository"])
def test_either_data_fault_gives_the_failure_time(func: str) -> None:
    events = [ended(func, {**FAULT, "fault": func, "injected_at": 1001.0}, 1001.5), ended("restore_model_repository", RESTORED, 1020.3)]
    assert restore_section(events).rpo_s == 30.5  # type: ignore[union-attr]


def test_a_damaged_restore_output_is_named() -> None:
    with pytest.raises(SpecError, match="restore_model_repository.*restored"):
        restore_section(timeline({"region": "primary"}))
