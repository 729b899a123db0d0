"""The bad-input sweep: a broad corpus through the ``drillkit`` CLI and the loaders, and its table.

Run by ``make fuzz``, or on its own: ``python -m tests.fuzz.sweep [--in-process]``.

Two corpora, every case a bad input that must be refused with exit 2 naming the file and
the field:

- ``tests/fuzz/cases.py``: each bad input the issue lists, run as ``python -m drillkit
  validate / suite --dry-run / gate / report / history`` subprocesses (``--in-process``:
  the same commands through ``drillkit.cli.main`` in this process, faster);
- every number in every shipped spec (environment, drill, suite, policy) replaced by
  ``inf``, ``-inf``, ``nan``, ``1e20``, a string and a list, through the spec loaders.

A case is a *clear error* when it exits 2 (a SpecError in process) and the message names
its file and field; a *traceback* when anything else escapes or the output shows one; *silently
accepted* when it exits 0; *other* when it exits with another code. Exit status 1 unless
every case is a clear error.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from drillkit.errors import SpecError
from drillkit.spec import load_drill, load_environment, load_policy
from drillkit.suite import plan_suite
from tests.fuzz.cases import INJECTED, REPO, Case, build
from tests.fuzz.mutate import paths_of

_AREAS = {"env": "environment", "request": "request log", "journal": "journal", "history": "history store"}
OUTCOMES = ("clear error", "traceback", "silently accepted", "other")
_TIMEOUT_S = 120
NUMBER_VALUES: tuple[Any, ...] = (math.inf, -math.inf, math.nan, 1e20, "fast", [1])
SPEC_FILES: dict[str, tuple[Callable[[Path], Any], list[Path]]] = {
    "environment": (load_environment, [REPO / "drills/environments/local.yaml", REPO / "drills/environments/backup-local.yaml",
                                       REPO / "drills/environments/kubernetes.yaml"]),
    "drill": (load_drill, sorted((REPO / "drills").glob("*.yaml"))),
    # a suite's overrides are validated when it is planned (`suite --dry-run`), with every drill
    "suite": (plan_suite, sorted((REPO / "drills/suites").glob("*.yaml"))),
    "policy": (load_policy, sorted((REPO / "drills/policies").glob("*.yaml"))),
}  # fmt: skip


def classify_cli(case: Case, code: int | None, output: str) -> str:
    """The outcome of one CLI run of ``case`` from its exit code and its stdout + stderr."""
    if "Traceback (most recent call last)" in output or code is None:
        return "traceback"
    if code == 0:
        return "silently accepted"
    if code == 2 and str(case.file) in output and f": {case.field}: " in output:
        return "clear error"
    return "other"


def run_subprocess(case: Case) -> tuple[str, str]:
    """``python -m drillkit <argv>`` in a fresh process: (outcome, its output)."""
    env = {**os.environ, "COLUMNS": "400", "DRILLKIT_ENV": str(REPO / "drills/environments/local.yaml")}
    try:
        done = subprocess.run([sys.executable, "-m", "drillkit", *case.argv], capture_output=True, text=True,
                              timeout=_TIMEOUT_S, cwd=REPO, env=env)  # fmt: skip
    except subprocess.TimeoutExpired:
        return "other", f"timed out after {_TIMEOUT_S} s"
    output = done.stdout + done.stderr
    return classify_cli(case, done.returncode, output), output


def run_in_process(case: Case) -> tuple[str, str]:
    """The same command through ``drillkit.cli.main`` in this process: (outcome, its output)."""
    from drillkit.cli import main

    captured = io.StringIO()
    argv, sys.argv = sys.argv, ["drillkit", *case.argv]
    code: int | None = None
    try:
        with contextlib.redirect_stderr(captured), contextlib.redirect_stdout(captured):
            main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except Exception as exc:  # noqa: BLE001  (the sweep counts what escapes; it must not stop)
        captured.write(f"Traceback (most recent call last): {type(exc).__name__}: {exc}")
    finally:
        sys.argv = argv
    return classify_cli(case, code, captured.getvalue()), captured.getvalue()


def number_cases(root: Path) -> Iterator[tuple[str, Callable[[Path], Any], Path, str]]:
    """Every number of every shipped spec replaced by each of ``NUMBER_VALUES``: (name, loader, file, field)."""
    for kind, (load, files) in SPEC_FILES.items():
        for original in files:
            data = yaml.safe_load(original.read_text())
            for path in paths_of(data):
                if _is_number(_get(data, path)):
                    for i, value in enumerate(NUMBER_VALUES):
                        target = _write_with(root / kind / original.stem / f"{'.'.join(map(str, path))}-{i}.yaml",
                                             path, value, original)  # fmt: skip
                        yield f"{original.name}:{'.'.join(map(str, path))}={value!r}", load, target, kind


def string_cases(root: Path) -> Iterator[tuple[str, Callable[[Path], Any], Path, str]]:
    """Every string of every shipped environment and drill with a config line appended after a newline
    (PromQL ``query`` fields excepted: a query may span lines, and it reaches Prometheus only as data)."""
    for kind in ("environment", "drill"):
        load, files = SPEC_FILES[kind]
        for original in files:
            data = yaml.safe_load(original.read_text())
            for i, path in enumerate(paths_of(data)):
                value = _get(data, path)
                if isinstance(value, str) and path[-1] != "query":
                    target = _write_with(root / kind / original.stem / f"{i}.yaml", path, f"{value}\n{INJECTED}", original)
                    yield f"{original.name}:{'.'.join(map(str, path))}+newline", load, target, kind


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _get(data: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        data = data[key]
    return data


def _write_with(target: Path, path: tuple[Any, ...], value: Any, original: Path) -> Path:
    copy = yaml.safe_load(original.read_text())
    if original.parent.name == "suites":  # the copy lives elsewhere: its drills by absolute path
        for entry in copy["drills"]:
            entry["drill"] = str(original.parent / entry["drill"])
    _get(copy, path[:-1])[path[-1]] = value
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(copy))
    return target


def classify_loader(load: Callable[[Path], Any], path: Path) -> str:
    """A loader's outcome on ``path``: a SpecError naming the file and a field is a clear error."""
    try:
        load(path)
    except SpecError as exc:
        return "clear error" if exc.file == str(path) and exc.field and exc.field != "-" else "other"
    except Exception:  # noqa: BLE001  (counted, not raised: the sweep reports every case)
        return "traceback"
    return "silently accepted"


def sweep(root: Path, *, in_process: bool, verbose: bool) -> dict[str, Counter[str]]:
    """Run both corpora; outcome counts per area (and print every case that is not a clear error)."""
    table: dict[str, Counter[str]] = {}
    cases = build(root / "cases")
    runner = run_in_process if in_process else run_subprocess
    with ThreadPoolExecutor(max_workers=1 if in_process else 2) as pool:
        for case, (result, output) in zip(cases, pool.map(runner, cases), strict=True):
            area = f"cli: {case.argv[0]} ({_AREAS.get(case.name.split('-')[0], case.name.split('-')[0])})"
            table.setdefault(area, Counter())[result] += 1
            if result != "clear error" or verbose:
                print(f"{result}: {case.name}: drillkit {' '.join(case.argv)}\n    {output.strip()[-600:]}", file=sys.stderr)
    for corpus, generate in (("numbers", number_cases), ("strings", string_cases)):
        for name, load, path, kind in generate(root / corpus):
            result = classify_loader(load, path)
            table.setdefault(f"loader: {kind} {corpus}", Counter())[result] += 1
            if result != "clear error" or verbose:
                print(f"{result}: {name}", file=sys.stderr)
    return table


def render(table: dict[str, Counter[str]]) -> str:
    """The Markdown table: one row per area and a total."""
    total: Counter[str] = sum(table.values(), Counter())
    lines = ["| area | cases tried | " + " | ".join(OUTCOMES) + " |", "|---|---:|" + "---:|" * len(OUTCOMES)]
    for area, counts in [*sorted(table.items()), ("**total**", total)]:
        lines.append(f"| {area} | {sum(counts.values())} | " + " | ".join(str(counts[o]) for o in OUTCOMES) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--in-process", action="store_true", help="run the CLI cases through drillkit.cli.main here")
    parser.add_argument("--verbose", action="store_true", help="print every case, not only the failures")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="drillkit-sweep-") as tmp:
        table = sweep(Path(tmp), in_process=args.in_process, verbose=args.verbose)
    print(render(table))
    total: Counter[str] = sum(table.values(), Counter())
    return 0 if total["clear error"] == sum(total.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
