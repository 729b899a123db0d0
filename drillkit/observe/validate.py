"""Check a drill's PromQL before anything runs: syntax, windows, and the server itself.

Syntax is checked offline with ``promtool`` (Prometheus' own parser, from the Debian
package): every query becomes a recording rule in a throw-away rules file. When an external
Prometheus is configured it is also asked each query at the current time, which proves it is
reachable, that the credentials work and that it parses the query the same way.

>>> check_promql(plan_queries, file="drills/region-outage.yaml", scrape_interval_s=1.0)  # doctest: +SKIP
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

import yaml

from drillkit.errors import SpecError
from drillkit.observe.client import PromClient, PrometheusError
from drillkit.observe.promql import guard_query, slo_query
from drillkit.spec import DrillSpec
from drillkit.spec.slo import BurnRateSlo, GuardSource

_FAILED = re.compile(r'"drillkit:check_(\d+)": could not parse expression: (.*)')


def drill_queries(spec: DrillSpec) -> dict[str, str]:
    """Every PromQL the drill will evaluate, by the field that defines it."""
    queries = {f"slos[{i}] ({c.name})": slo_query(c) for i, c in enumerate(spec.slos)}
    for i, guard in enumerate(spec.abort):
        if guard.source is GuardSource.PROMETHEUS:
            queries[f"abort[{i}] ({guard.name})"] = guard_query(guard)
    return queries


def check_windows(spec: DrillSpec, *, file: str, scrape_interval_s: float) -> None:
    """A rate() window must hold at least two scrapes, or it returns nothing."""
    for i, check in enumerate(spec.slos):
        windows = [p.short_s for p in check.pairs] if isinstance(check, BurnRateSlo) else [check.window_s]
        if min(windows) < 2 * scrape_interval_s:
            raise SpecError(file, f"slos[{i}] ({check.name})", f"a window of {min(windows):g} s holds fewer than two "
                            f"scrapes at {scrape_interval_s:g} s", f"use a window of at least {2 * scrape_interval_s:g} s")  # fmt: skip
    for i, guard in enumerate(spec.abort):
        if guard.source is GuardSource.PROMETHEUS and guard.window_s < 2 * scrape_interval_s:
            raise SpecError(file, f"abort[{i}] ({guard.name}).window_s", f"{guard.window_s:g} s holds fewer than two scrapes",
                            f"use at least {2 * scrape_interval_s:g} s")  # fmt: skip


def check_syntax(queries: Mapping[str, str], *, file: str, which: Callable[[str], str | None] = shutil.which) -> None:
    """Parse every query with promtool; the first error names the field and the parser's message."""
    if not queries:
        return
    binary = which("promtool")
    if binary is None:
        raise SpecError(file, "slos", "promtool (Prometheus' query parser) is not installed, so the PromQL cannot be checked",
                        "run `make setup` (it installs the Debian package prometheus, which has promtool)")  # fmt: skip
    fields = list(queries)
    rules = {"groups": [{"name": "drillkit", "rules": [{"record": f"drillkit:check_{i}", "expr": queries[f]}
                                                        for i, f in enumerate(fields)]}]}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="drillkit-promql-") as tmp:
        path = Path(tmp) / "rules.yml"
        path.write_text(yaml.safe_dump(rules))
        done = subprocess.run([binary, "check", "rules", str(path)], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise _syntax_error(file, fields, done.stdout + done.stderr)


def _syntax_error(file: str, fields: list[str], output: str) -> SpecError:
    found = _FAILED.search(output)
    if found is None:
        return SpecError(file, "slos", f"promtool rejected the queries: {output.strip()[-300:]}", "fix the PromQL")
    field = fields[int(found.group(1))]
    return SpecError(file, field, f"PromQL does not parse: {found.group(2)}", "fix the query (see the position given)")


def check_server(client: PromClient, queries: Mapping[str, str], *, file: str) -> None:
    """Ask an external Prometheus each query now: unreachable, unauthorized or unparsable fails."""
    for field, query in queries.items():
        try:
            client.instant(query)
        except PrometheusError as exc:
            raise SpecError(file, f"{field} / environment prometheus.url", str(exc),
                            "check the URL, the network and the credentials' environment variables") from None
    if not queries:
        try:
            client.instant("vector(1)")
        except PrometheusError as exc:
            raise SpecError(file, "environment prometheus.url", str(exc), "check the URL and the network") from None
