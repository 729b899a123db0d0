"""The deterministic corpus of bad input (issue 15, "Bad input"): one case per hostile file.

Each case writes its files under a folder and says which ``drillkit`` command reads them,
which in-process loader must refuse them, and which file and field the error must name.
``test_corpus.py`` runs the loaders; ``sweep.py`` runs the commands and prints the table.

>>> cases = build(Path("/tmp/corpus"))   # doctest: +SKIP
>>> cases[0].argv                          # doctest: +SKIP
('validate', '/tmp/corpus/env-binary/drill.yaml')
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from drillkit.journal import JOURNAL_NAME
from drillkit.plan import plan_drill
from drillkit.report.history import HISTORY_NAME, History, row_of
from drillkit.report.run import load_run
from drillkit.request_log import COMPACT_NAME, read_request_log
from drillkit.spec import load_policy, load_suite
from tests.fakes.runs import make_run

REPO = Path(__file__).resolve().parents[2]
EXPERIMENT = REPO / "chaos/node-crash.json"
TRACE = REPO / "loadtests/traces/drill.parquet"
ENV = "name: corpus\nstate_dir: {state}\nregions:\n  - {{name: primary, role: primary}}\n  - {{name: standby, role: standby}}\n"
DRILL = """name: corpus
environment: env.yaml
experiment: {experiment}
load: {{trace: {trace}, warmup_s: 1, cooldown_s: 1}}
recovery: {{rto_budget_s: 5}}
bring_up: false
"""
INJECTED = "stats socket ipv4@0.0.0.0:9999 level admin"
NESTED = "[" * 5000 + "]" * 5000
DIGITS = "9" * 5000


@dataclass(frozen=True)
class Case:
    """One bad input: the command that reads it, the loader that refuses it, what the error names."""

    name: str
    argv: tuple[str, ...]
    load: Callable[[], Any]
    file: Path
    field: str


# Spec texts that every YAML loader must refuse (name -> text, field).
YAML_GARBAGE: dict[str, tuple[str | bytes, str]] = {
    "binary": (b"\x89PNG\r\n\x1a\n\xff\xfe\x00garbage", "byte 0"),
    "nested": (f"a: {NESTED}\n", "-"),
    "digits": (f"a: {DIGITS}\n", "-"),
    "duplicate-key": ("name: a\nname: b\n", "line 2"),
    "alias": ("x: &a [1, 2]\ny: *a\n", "line 2"),
}


def _write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def _drill_folder(folder: Path, *, env: str | bytes | None = None, drill: str | None = None,
                  experiment: str | bytes | None = None, experiment_name: str = "x.json",
                  trace: Path | None = None) -> Path:  # fmt: skip
    """A drill folder with one file replaced; returns drill.yaml."""
    _write(folder / "env.yaml", env if env is not None else ENV.format(state=folder / "state"))
    exp = _write(folder / experiment_name, experiment) if experiment is not None else EXPERIMENT
    text = drill if drill is not None else DRILL.format(experiment=exp, trace=trace or TRACE)
    return _write(folder / "drill.yaml", text)


def _validate(name: str, folder: Path, file: Path, field: str) -> Case:
    drill = folder / "drill.yaml"
    return Case(name, ("validate", str(drill)), lambda: plan_drill(drill), file, field)


def _env_cases(root: Path) -> list[Case]:
    bad = {f"env-{k}": v for k, v in YAML_GARBAGE.items()}
    base = ENV.format(state="/tmp/corpus-state")
    bad |= {
        "env-state-dir-newline": (ENV.format(state=json.dumps(f"/tmp/x\n{INJECTED}")), "state_dir"),
        "env-prometheus-url-newline": (base + 'prometheus: {url: "http://127.0.0.1:9090/\\nx"}\n', "prometheus.url"),
        "env-connect-timeout-huge": (base + "gateway: {connect_timeout_ms: 99999999999999}\n", "gateway.connect_timeout_ms"),
        "env-scrape-interval-inf": (base + "prometheus: {scrape_interval_s: .inf}\n", "prometheus.scrape_interval_s"),
        "env-seed-1e30": (base + "model: {seed: 1e30}\n", "model.seed"),
        "env-backup-every-1e999": (base + "backup: {every: 1e999}\n", "backup.every"),
    }
    cases = []
    for name, (text, field) in bad.items():
        folder = root / name
        _drill_folder(folder, env=text)
        cases.append(_validate(name, folder, folder / "env.yaml", field))
    folder = root / "env-directory"
    _drill_folder(folder, drill=DRILL.format(experiment=EXPERIMENT, trace=TRACE).replace("env.yaml", "envdir"))
    (folder / "envdir").mkdir()
    cases.append(_validate("env-directory", folder, folder / "envdir", "-"))
    return cases


def _drill_cases(root: Path) -> list[Case]:
    good = DRILL.format(experiment=EXPERIMENT, trace=TRACE)
    bad = {f"drill-{k}": v for k, v in YAML_GARBAGE.items()}
    bad |= {
        "drill-rto-inf": (good.replace("rto_budget_s: 5", "rto_budget_s: .inf"), "recovery.rto_budget_s"),
        "drill-rto-1e999": (good.replace("rto_budget_s: 5", "rto_budget_s: 1e999"), "recovery.rto_budget_s"),
        "drill-trace-newline": (good.replace(f"trace: {TRACE}", f'trace: "{TRACE}\\n{INJECTED}"'), "load.trace"),
        "drill-slo-region-crafted": (good + 'slos:\n  - {name: f, kind: traffic_share, region: "primary\\"}) or vector(1) #", '
                                     "min_share: 0.95}\n", "slos[0].traffic_share.region"),
        "drill-slo-region-unknown": (good + "slos:\n  - {name: f, kind: traffic_share, region: elsewhere, min_share: 0.95}\n",
                                     "slos[0].region"),
        "drill-duplicate-budget": (good + "recovery: {rto_budget_s: 500}\n", "line 7"),
    }  # fmt: skip
    cases = []
    for name, (text, field) in bad.items():
        folder = root / name
        _drill_folder(folder, drill=text)
        cases.append(_validate(name, folder, folder / "drill.yaml", field))
    return cases


def _experiment(change: Callable[[dict[str, Any]], None]) -> str:
    experiment = json.loads(EXPERIMENT.read_text())
    change(experiment)
    return json.dumps(experiment)


def _method0(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda e: e["method"][0].__setitem__(key, value)


RECURSIVE_YAML = "title: t\nmethod: &m\n  - type: action\n    name: a\n    provider: {type: python, module: drillkit.chaos.actions, func: rollback_all}\n    loop: *m\n"  # noqa: E501


def _experiment_cases(root: Path) -> list[Case]:
    bad: dict[str, tuple[str | bytes, str, str]] = {
        "experiment-binary": (b"\xff\xd8\xff\xe0garbage", "x.json", "byte 0"),
        "experiment-nested": (NESTED, "x.json", "-"),
        "experiment-digits": ('{"title": ' + DIGITS + "}", "x.json", "-"),
        "experiment-method-dict": (_experiment(lambda e: e.__setitem__("method", {"type": "action"})), "x.json", "method"),
        "experiment-method-string": (_experiment(lambda e: e.__setitem__("method", "crash")), "x.json", "method"),
        "experiment-pauses-list": (_experiment(_method0("pauses", [5])), "x.json", "method[0].pauses"),
        "experiment-pauses-after-minus-1e9": (_experiment(_method0("pauses", {"after": -1e9})), "x.json", "method[0].pauses.after"),
        "experiment-pauses-after-1e999": ('{"title": "t", "method": [{"pauses": {"after": 1e999}}]}', "x.json", "-"),
        "experiment-recursive-alias": (RECURSIVE_YAML, "x.yaml", "line 6"),
        "experiment-duplicate-key": ("title: t\ntitle: u\n", "x.yaml", "line 2"),
        "experiment-os-system": (_experiment(_method0("provider", {"type": "python", "module": "os", "func": "system",
                                                                   "arguments": {"command": "id"}})),
                                 "x.json", "method[0].provider.module"),
        "experiment-hypothesis-null": (_experiment(lambda e: e.__setitem__("steady-state-hypothesis", None)),
                                       "x.json", "steady-state-hypothesis"),
        "experiment-arguments-null": (_experiment(lambda e: e["method"][0]["provider"].__setitem__("arguments", None)),
                                      "x.json", "method[0].provider.arguments"),
        "experiment-process": (_experiment(_method0("provider", {"type": "process", "path": "/bin/sh", "arguments": "-c id"})),
                               "x.json", "method[0].provider"),
    }  # fmt: skip
    cases = []
    for name, (text, file_name, field) in bad.items():
        folder = root / name
        _drill_folder(folder, experiment=text, experiment_name=file_name)
        cases.append(_validate(name, folder, folder / file_name, field))
    folder = root / "experiment-directory"
    _drill_folder(folder, drill=DRILL.format(experiment=root / "experiment-directory" / "chaos", trace=TRACE))
    (folder / "chaos").mkdir()
    cases.append(_validate("experiment-directory", folder, folder / "chaos", "-"))
    return cases


def _trace(folder: Path, **columns: Any) -> Path:
    frame = pd.DataFrame({"offset_s": [0.0, 1.0], "kind": ["recommend"] * 2, "user_id": [1, 2], "k": [10, 10]} | columns)
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(folder / "t.parquet", index=False)
    return folder / "t.parquet"


def _trace_cases(root: Path) -> list[Case]:
    cases = []
    for name, columns, field in [
        ("trace-offset-inf", {"offset_s": [0.0, float("inf")]}, "row 3, column offset_s"),
        ("trace-user-1e30", {"user_id": [1.0, 1e30]}, "row 3, column user_id"),
    ]:
        folder = root / name
        trace = _trace(folder, **columns)
        _drill_folder(folder, trace=trace)
        cases.append(_validate(name, folder, trace, field))
    folder = root / "trace-truncated"
    whole = _trace(folder).read_bytes()
    trace = _write(folder / "t.parquet", whole[: len(whole) // 2])
    _drill_folder(folder, trace=trace)
    cases.append(_validate("trace-truncated", folder, trace, "-"))
    return cases


def _suite_cases(root: Path) -> list[Case]:
    cases = []
    for name, (text, field) in {f"suite-{k}": v for k, v in YAML_GARBAGE.items()}.items():
        suite = _write(root / name / "suite.yaml", text)
        cases.append(Case(name, ("suite", "--dry-run", str(suite)), lambda s=suite: load_suite(s), suite, field))
    suite = _write(root / "suite-settle-inf" / "suite.yaml", "name: s\nsettle_s: .inf\ndrills: [{drill: x.yaml}]\n")
    cases.append(Case("suite-settle-inf", ("suite", "--dry-run", str(suite)), lambda: load_suite(suite), suite, "settle_s"))
    return cases


def _run_folder(root: Path) -> Path:
    run = root / "runs" / "region-outage-1"
    if not run.exists():
        make_run(run, duration_s=10.0, rps=20.0, fault_at=3.0, outage_s=1.0, rollback_at=6.0)
    return run


def _policy_cases(root: Path) -> list[Case]:
    run = _run_folder(root)
    bad = {f"policy-{k}": v for k, v in YAML_GARBAGE.items()}
    bad |= {"policy-max-rto-inf": ("defaults: {max_rto_s: .inf}\n", "defaults.max_rto_s")}
    cases = []
    for name, (text, field) in bad.items():
        policy = _write(root / name / "policy.yaml", text)
        cases.append(Case(name, ("gate", str(run), "--policy", str(policy)), lambda p=policy: load_policy(p), policy, field))
    return cases


def _journal(root: Path, name: str, change: Callable[[dict[str, Any]], Any] | str | bytes) -> Path:
    run = root / name / "region-outage-1"
    shutil.copytree(_run_folder(root), run)
    if isinstance(change, str | bytes):
        _write(run / JOURNAL_NAME, change)
    else:
        journal = json.loads((run / JOURNAL_NAME).read_text())
        change(journal)
        (run / JOURNAL_NAME).write_text(json.dumps(journal))
    return run


def _run_folder_cases(root: Path) -> list[Case]:
    journals: dict[str, tuple[Callable[[dict[str, Any]], Any] | str | bytes, str]] = {
        "journal-binary": (b"\x00\xff\xfe garbage", "-"),
        "journal-garbage": ("not json at all", "line 1"),
        "journal-nested": (NESTED, "-"),
        "journal-digits": ('{"drill": ' + DIGITS + "}", "-"),
        "journal-checks-string": (lambda j: j.__setitem__("checks", "PASS"), "checks"),
        "journal-rto-fast": (lambda j: j["measurements"].__setitem__("rto_s", "fast"), "measurements.rto_s"),
        "journal-not-a-mapping": ("[1, 2, 3]", "drill"),
    }
    cases = []
    for name, (change, field) in journals.items():
        run = _journal(root, name, change)
        for command in ("report", "gate"):
            cases.append(Case(f"{name} ({command})", (command, str(run)), lambda r=run: load_run(r), run / JOURNAL_NAME, field))
    run = _journal(root, "request-log-truncated", lambda j: None)
    log = run / "request_log" / COMPACT_NAME
    log.write_bytes(log.read_bytes()[:300])
    cases.append(Case("request-log-truncated", ("report", str(run)), lambda r=run: read_request_log(r / "request_log"), log, "-"))
    run = _journal(root, "request-log-bad-metadata", lambda j: None)
    log = run / "request_log" / COMPACT_NAME
    _damage_pandas_metadata(log)
    cases.append(Case("request-log-bad-metadata", ("report", str(run)), lambda r=run: read_request_log(r / "request_log"), log, "-"))
    cases += _history_cases(root)
    return cases


def _damage_pandas_metadata(path: Path) -> None:
    """One dtype in the file's pandas metadata made unknown (``float64`` -> ``Vloat64``), as the fuzzer found."""
    table = pq.read_table(path)
    metadata = dict(table.schema.metadata)
    metadata[b"pandas"] = metadata[b"pandas"].replace(b'"numpy_type": "float64"', b'"numpy_type": "Vloat64"', 1)
    pq.write_table(table.replace_schema_metadata(metadata), path)


def _history_cases(root: Path) -> list[Case]:
    corrupt = _write(root / "history-corrupt" / HISTORY_NAME, b"SQLite format 3\x00" + b"\xde\xad" * 300)
    typed = root / "history-wrong-types" / HISTORY_NAME
    typed.parent.mkdir(parents=True, exist_ok=True)
    History(typed).append(row_of(load_run(_run_folder(root))))
    with sqlite3.connect(typed) as db:
        db.execute("UPDATE runs SET rto_s = 'fast'")
    db.close()
    not_utf8 = root / "history-not-utf8" / HISTORY_NAME
    not_utf8.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(typed, not_utf8)
    # one flipped bit in the stored schema (found by the fuzzer): its SQL is no longer UTF-8
    not_utf8.write_bytes(not_utf8.read_bytes().replace(b"runs_by_drill ON", b"runs_by_drill \xcfN"))
    return [Case("history-not-utf8", ("history", "--history", str(not_utf8)), lambda: History(not_utf8).rows(), not_utf8, "-"),
            Case("history-corrupt", ("history", "--history", str(corrupt)), lambda: History(corrupt).rows(), corrupt, "-"),
            Case("history-wrong-types", ("history", "--history", str(typed)), lambda: History(typed).rows(), typed, "runs")]  # fmt: skip


def build(root: Path) -> list[Case]:
    """Write every case under ``root`` (an empty folder) and return them."""
    root.mkdir(parents=True, exist_ok=True)
    return [*_env_cases(root), *_drill_cases(root), *_experiment_cases(root), *_trace_cases(root), *_suite_cases(root),
            *_policy_cases(root), *_run_folder_cases(root)]  # fmt: skip
