"""The typed, versioned journal: one writer, one reader, a migration, and damaged input named.

An old journal (schema 1, written by drillkit before the schema had a version, kept in
``tests/fixtures/journal-v1``: a real node-crash run) still loads, renders and gates.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from drillkit.errors import SpecError
from drillkit.events import EVENT, FaultOutput, fault_window, read_events
from drillkit.gate import gate
from drillkit.journal import SCHEMA_VERSION, migrate, parse_journal, read_journal
from drillkit.report.pdf import render_report
from drillkit.report.run import load_run
from drillkit.spec.policy import load_policy
from tests.fakes.runs import all_sections, make_run
from tests.schema import assert_valid_journal

REPO = Path(__file__).resolve().parents[2]
OLD = REPO / "tests/fixtures/journal-v1/node-crash"
POLICY = REPO / "drills/policies/release.yaml"


def drillkit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "drillkit", *args], capture_output=True, text=True, timeout=120,
                          check=False, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})  # fmt: skip


def old_copy(tmp_path: Path) -> Path:
    return Path(shutil.copytree(OLD, tmp_path / "node-crash-20261202-102814"))


def test_an_old_journal_loads_through_the_migration_renders_and_gates(tmp_path: Path) -> None:
    run = load_run(old_copy(tmp_path))
    assert "schema_version" not in json.loads((OLD / "journal.json").read_text())  # it really is schema 1
    j = run.journal
    assert j.schema_version == SCHEMA_VERSION and j.faulted == ["primary-0"] and j.name == "node-crash"
    assert j.measurements is not None and j.measurements.resolution_s == 1.0  # old runs read RTO per window
    assert [f.fault for f in j.faults] == ["crash_node"] and j.faults[0].targets == ["primary-0"]
    text = "".join(p.extract_text() for p in PdfReader(render_report(run.path, target=tmp_path / "old.pdf")).pages)
    assert "drillkit drill report: node-crash" in text and "verdict: PASS" in text
    result = gate(run.path, load_policy(POLICY))
    assert result.passed, [r.detail for r in result.failures]
    assert drillkit("gate", str(run.path), "--policy", str(POLICY)).returncode == 0


def test_the_migrated_journal_and_every_fake_journal_validate_against_the_printed_schema(tmp_path: Path) -> None:
    migrated = tmp_path / "journal.json"
    migrated.write_text(read_journal(OLD / "journal.json").model_dump_json())
    assert assert_valid_journal(migrated)["schema_version"] == SCHEMA_VERSION
    never = make_run(tmp_path / "never", rto_s=None, sections=all_sections())
    assert assert_valid_journal(never / "journal.json")["measurements"]["rto_s"] == "never"


def test_infinity_is_written_as_never_and_read_back_as_inf(tmp_path: Path) -> None:
    run = load_run(make_run(tmp_path / "r", rto_s=None))
    assert math.isinf(run.journal.measurements.rto_s)  # type: ignore[union-attr]
    assert '"rto_s": "never"' in (run.path / "journal.json").read_text()


def test_schema_1_null_plus_never_flag_migrates_to_infinity() -> None:
    old = json.loads((OLD / "journal.json").read_text())
    old["measurements"] |= {"rto_s": None, "rto_s_never": True, "failback_s": None, "failback_s_never": True}
    old["cross_check"] |= {"rto_log_s": None, "rto_prom_s": None, "rto_prom_never": True}
    j = parse_journal(old, where="old.json")
    assert math.isinf(j.measurements.rto_s) and math.isinf(j.measurements.failback_s)  # type: ignore[union-attr,arg-type]
    assert math.isinf(j.cross_check.rto_prom_s) and math.isinf(j.cross_check.rto_log_s)  # type: ignore[union-attr,arg-type]
    assert "rto_s_never" not in migrate(old)["measurements"]


def _damage(tmp_path: Path, change: Any) -> Path:
    run = make_run(tmp_path / "run")
    data = json.loads((run / "journal.json").read_text())
    change(data)
    (run / "journal.json").write_text(json.dumps(data))
    return run


@pytest.mark.parametrize(("change", "field"), [
    (lambda j: j["measurements"].update(rto_s="soon"), "measurements.rto_s"),
    (lambda j: j["measurements"].update(rto_s=float("nan")), "measurements.rto_s"),
    (lambda j: j.update(schema_version=99), "schema_version"),
    (lambda j: j.pop("checks"), "checks"),
    (lambda j: j["checks"][0].update(verdict="MAYBE"), "checks.0.verdict"),
    (lambda j: j["timeline"].append({"event": "made_up", "at": 1.0}), "timeline.7"),
    (lambda j: j["timeline"][2]["output"].pop("targets"), "targets"),
    (lambda j: j.update(exit_code="zero"), "exit_code"),
    (lambda j: j.update(surprise=1), "surprise"),
])  # fmt: skip
def test_a_damaged_journal_is_a_spec_error_naming_the_file_and_field(tmp_path: Path, change: Any, field: str) -> None:
    run = _damage(tmp_path, change)
    with pytest.raises(SpecError) as caught:
        load_run(run)
    assert str(run / "journal.json") in caught.value.file or str(run) in str(caught.value)
    assert field in f"{caught.value.field} {caught.value.problem}" and caught.value.fix


def test_gate_report_and_history_exit_2_on_damaged_input_naming_it_without_a_traceback(tmp_path: Path) -> None:
    bad_json = make_run(tmp_path / "a")
    (bad_json / "journal.json").write_text('{"drill": ')
    bad_field = _damage(tmp_path / "b", lambda j: j["measurements"].update(failed_requests=-3))
    bad_log = make_run(tmp_path / "c")
    (bad_log / "request_log" / "requests.parquet").write_bytes(b"PAR1 this is not parquet")
    bad_store = tmp_path / "store" / "history.sqlite"
    bad_store.parent.mkdir()
    bad_store.write_bytes(b"SQLite format 3\x00" + b"\xff" * 200)
    summary = tmp_path / "suite"
    summary.mkdir()
    (summary / "summary.json").write_text('{"suite": "s", "drills": {"not": "a list"}}')
    cases = [
        (("gate", str(bad_json), "--policy", str(POLICY)), "journal.json", "line 1"),
        (("gate", str(bad_field), "--policy", str(POLICY)), "journal.json", "measurements.failed_requests"),
        (("report", str(bad_log)), "requests.parquet", "Parquet"),
        (("history", "--history", str(bad_store)), "history.sqlite", "rebuild"),
        (("gate", str(summary), "--policy", str(POLICY)), "summary.json", "drills"),
        (("report", str(summary)), "summary.json", "drills"),
    ]
    for args, name, field in cases:
        done = drillkit(*args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert name in done.stderr and field in done.stderr and "fix:" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr + done.stdout


def test_a_request_log_with_a_missing_column_or_bad_values_is_named(tmp_path: Path) -> None:
    import pandas as pd

    run = make_run(tmp_path / "r")
    path = run / "request_log" / "requests.parquet"
    frame = pd.read_parquet(path)
    frame.drop(columns=["latency_s"]).to_parquet(path)
    with pytest.raises(SpecError, match="latency_s"):
        _ = load_run(run).log
    frame.assign(outcome="maybe").to_parquet(path)
    with pytest.raises(SpecError, match="outcome"):
        _ = load_run(run).log


def test_a_fault_output_without_targets_is_refused_where_it_is_read(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="targets"):
        FaultOutput(fault="crash_node", targets=[], injected_at=1.0, layer="node")
    timeline = tmp_path / "timeline.jsonl"
    ended = {"event": "activity_ended", "at": 2.0, "name": "kill", "func": "kill_it", "output": {"injected_at": 1.0}}
    timeline.write_text(json.dumps({"event": "drill_started", "at": 0.5, "drill": "d"}) + "\n" + json.dumps(ended) + "\n")
    with pytest.raises(SpecError, match="kill.*targets"):
        fault_window(read_events(timeline))


def test_the_fault_window_reads_start_injection_rollback_and_every_faulted_node() -> None:
    def ended(name: str, at: float, targets: list[str]) -> Any:
        output = {"fault": "crash_node", "targets": targets, "injected_at": at, "layer": "node"}
        return EVENT.validate_python({"event": "activity_ended", "at": at + 0.01, "name": name, "output": output})

    events = [EVENT.validate_python({"event": "activity_started", "at": 9.5, "name": "first"}), ended("first", 10.0, ["a-0"]),
              ended("second", 12.0, ["b-0", "a-0"]), EVENT.validate_python({"event": "rollback_ended", "at": 20.0})]  # fmt: skip
    window = fault_window(events)
    assert (window.start, window.injecting_since, window.rollback_end, window.nodes) == (10.0, 9.5, 20.0, ["a-0", "b-0"])


def test_the_timeline_reader_skips_only_a_torn_last_line(tmp_path: Path) -> None:
    timeline = tmp_path / "timeline.jsonl"
    line = json.dumps({"event": "drill_started", "at": 1.0, "drill": "d"})
    timeline.write_text(line + "\n" + '{"event": "canary", "at"')
    assert len(read_events(timeline)) == 1
    timeline.write_text('{"event": "canary", "at"\n' + line + "\n")
    with pytest.raises(SpecError, match="line 1"):
        read_events(timeline)


def test_drillkit_journal_schema_prints_the_versioned_schema() -> None:
    done = drillkit("journal", "schema")
    schema = json.loads(done.stdout)
    assert done.returncode == 0 and schema["properties"]["schema_version"]["const"] == SCHEMA_VERSION
    assert {"measurements", "checks", "timeline", "faulted"} <= set(schema["properties"])
