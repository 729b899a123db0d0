"""The drillkit dashboard: what users, the gateway and the Triton nodes did during a drill.

Built with the Grafana Foundation SDK's builders, so the JSON follows Grafana's own schema.
Every query goes through the ``datasource`` template variable (pick the Prometheus the drills
scrape into), the Triton panels through ``region``, and drills show up as annotations tagged
``drillkit`` (posted by :mod:`drillkit.grafana.annotations`).

The committed ``grafana/drillkit-dashboard.json`` is ``dashboard_json()``; after a change here,
re-commit it with ``python -m drillkit.grafana.dashboard > grafana/drillkit-dashboard.json``.

>>> board = build_dashboard()
>>> board["uid"], board["title"]
('drillkit', 'drillkit: recommender drills')
>>> dashboard_json().endswith("}\\n")
True
"""

from __future__ import annotations

import itertools
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.builders import prometheus as prometheus_builders
from grafana_foundation_sdk.builders import stat as stat_builders
from grafana_foundation_sdk.builders import timeseries as timeseries_builders
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as dashboard_models
from grafana_foundation_sdk.models import prometheus as prometheus_models

# The metric and proxy names the rest of drillkit queries: one source, so a rename shows up here
# (and in the committed JSON) instead of leaving the dashboard blank.
from drillkit.gateway import BACKEND
from drillkit.observe.promql import LATENCY, REQUESTS, SERVER_STATUS

UID = "drillkit"
TITLE = "drillkit: recommender drills"
ANNOTATION_TAG = "drillkit"  # the tag drills post their annotations with (GrafanaSpec.tags' default)
FRONTEND = "gateway"  # the HAProxy frontend users reach (drillkit/gateway.py writes `frontend gateway`)
DATASOURCE_VARIABLE = "datasource"
PROMETHEUS = dashboard_models.DataSourceRef(type_val="prometheus", uid="${" + DATASOURCE_VARIABLE + "}")
# Grafana's own annotation store: where `POST /api/annotations` puts the drills' annotations.
GRAFANA_ANNOTATIONS = dashboard_models.DataSourceRef(type_val="grafana", uid="-- Grafana --")
RATE = "$__rate_interval"  # Grafana's rate window: at least four scrapes, whatever the zoom
REGION = 'region=~"$region"'

Kind = Literal["timeseries", "stat"]


@dataclass(frozen=True)
class Query:
    """One PromQL target and how its series are named in the legend."""

    expr: str
    legend: str


@dataclass(frozen=True)
class PanelSpec:
    """A panel before it is built: small enough to read the whole dashboard off one screen."""

    title: str
    description: str
    queries: tuple[Query, ...]
    unit: str | None = None
    kind: Kind = "timeseries"
    width: int = 12  # of 24 grid columns
    height: int = 8
    alarm_at: float | None = None  # the value from which a stat turns red (None: no thresholds)
    no_value: str | None = None  # what a stat shows when the query finds nothing


def _users() -> list[PanelSpec]:
    errors = f'(sum(rate({REQUESTS}{{outcome="error"}}[{RATE}])) or vector(0)) / sum(rate({REQUESTS}[{RATE}]))'

    def quantile(q: float) -> str:
        return f"histogram_quantile({q:g}, sum by (le) (rate({LATENCY}_bucket[{RATE}])))"

    return [
        PanelSpec("Requests by outcome", "What the load generator sent, per second, by outcome.",
                  (Query(f"sum by (outcome) (rate({REQUESTS}[{RATE}]))", "{{outcome}}"),), "reqps"),
        PanelSpec("Error ratio", "Share of the users' requests that got no answer (no error at all reads 0).",
                  (Query(errors, "errors"),), "percentunit"),
        PanelSpec("Latency p50 / p99", "What users felt, from the load generator's histogram.",
                  (Query(quantile(0.5), "p50"), Query(quantile(0.99), "p99")), "s"),
        PanelSpec("Requests served by region", "Answered requests per second by the region that served them: "
                  "a failover moves this from the primary to the standby.",
                  (Query(f'sum by (region) (rate({LATENCY}_count{{outcome="ok"}}[{RATE}]))', "{{region}}"),), "reqps"),
    ]  # fmt: skip


def _gateway() -> list[PanelSpec]:
    return [
        PanelSpec("Servers UP", f"HAProxy's view of each server of backend {BACKEND} (1: UP). A faulted node "
                  "drops to 0 when the health checks mark it down.",
                  (Query(f'{SERVER_STATUS}{{proxy="{BACKEND}",state="UP"}}', "{{server}}"),), "none", width=6),
        PanelSpec("Gateway 5xx", f"5xx answers of frontend {FRONTEND} per second: what retries did not hide.",
                  (Query(f'sum(rate(haproxy_frontend_http_responses_total{{proxy="{FRONTEND}",code="5xx"}}[{RATE}]))',
                         "5xx"),), "reqps", width=6),
        PanelSpec("Retries and redispatches", "Tries the gateway repeated, and those it sent to another server.",
                  (Query(f'sum(rate(haproxy_backend_retry_warnings_total{{proxy="{BACKEND}"}}[{RATE}]))', "retries"),
                   Query(f'sum(rate(haproxy_backend_redispatch_warnings_total{{proxy="{BACKEND}"}}[{RATE}]))',
                         "redispatches")), "ops", width=6),
        PanelSpec("Gateway queue", "Requests waiting for a server past its maxconn (shed past max_queue).",
                  (Query(f'haproxy_backend_current_queue{{proxy="{BACKEND}"}}', "queued"),), "none", width=6),
    ]  # fmt: skip


def _triton() -> list[PanelSpec]:
    def per_node(metric: str) -> str:
        return f"sum by (node) (rate({metric}{{{REGION}}}[{RATE}]))"

    queue_ms = f"{per_node('nv_inference_queue_duration_us')} / {per_node('nv_inference_request_success')} / 1000"
    return [
        PanelSpec("Triton nodes up", "Nodes Prometheus scrapes, per region.",
                  (Query(f'sum by (region) (up{{job="triton", {REGION}}})', "{{region}}"),), "none",
                  kind="stat", width=6, height=6),
        PanelSpec("Inferences by node", "Successful inferences per second on each node.",
                  (Query(per_node("nv_inference_request_success"), "{{node}}"),), "reqps", width=9, height=6),
        PanelSpec("Inference failures by node", "Failed inferences per second on each node.",
                  (Query(per_node("nv_inference_request_failure"), "{{node}}"),), "reqps", width=9, height=6),
        PanelSpec("Average queue time", "Time a request waited in Triton's scheduler queue, per node.",
                  (Query(queue_ms, "{{node}}"),), "ms", width=6),
        PanelSpec("GPU utilization", "Triton's GPU utilization, per GPU.",
                  (Query(f"nv_gpu_utilization{{{REGION}}}", "{{node}} {{gpu_uuid}}"),), "percentunit", width=6),
        PanelSpec("GPU memory used", "Share of each GPU's memory in use.",
                  (Query(f"nv_gpu_memory_used_bytes{{{REGION}}} / nv_gpu_memory_total_bytes{{{REGION}}}",
                         "{{node}} {{gpu_uuid}}"),), "percentunit", width=6),
        PanelSpec("DCGM Xid errors", "The last Xid error code DCGM saw on each GPU (0: none); an Xid is a GPU "
                  "fault the driver reported (e.g. 79: fell off the bus).",
                  (Query("DCGM_FI_DEV_XID_ERRORS", "{{Hostname}} GPU {{gpu}}"),), "none", width=6),
    ]  # fmt: skip


def _alerts() -> list[PanelSpec]:
    firing = 'sum by (alertname) (ALERTS{alertstate="firing"})'
    return [
        PanelSpec("Alerts firing", "Prometheus alerts firing now, by name.", (Query(firing, "{{alertname}}"),),
                  "none", kind="stat", width=8, alarm_at=1, no_value="0"),
        PanelSpec("Alerts firing over time", "Prometheus alerts firing, by name.", (Query(firing, "{{alertname}}"),),
                  "none", width=16),
    ]  # fmt: skip


SECTIONS: tuple[tuple[str, Callable[[], list[PanelSpec]]], ...] = (
    ("Users (load generator)", _users),
    ("Gateway (HAProxy)", _gateway),
    ("Triton nodes", _triton),
    ("Alerts", _alerts),
)


def _target(query: Query, ref: str) -> prometheus_builders.Dataquery:
    return (prometheus_builders.Dataquery().expr(query.expr).legend_format(query.legend).ref_id(ref).range()
            .editor_mode(prometheus_models.QueryEditorMode.CODE).datasource(PROMETHEUS))  # fmt: skip


def _panel(spec: PanelSpec, panel_id: int) -> Builder[dashboard_models.Panel]:
    panel: timeseries_builders.Panel | stat_builders.Panel
    if spec.kind == "stat":
        # the value now (the last one in range); empty calcs would leave the choice to the Grafana version
        latest = common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False)
        panel = stat_builders.Panel().reduce_options(latest).graph_mode(common.BigValueGraphMode.AREA)
        if spec.no_value is not None:
            panel = panel.no_value(spec.no_value)
        if spec.alarm_at is not None:
            steps = [dashboard_models.Threshold(None, "green"), dashboard_models.Threshold(spec.alarm_at, "red")]
            panel = panel.thresholds(dashboard_builders.ThresholdsConfig().mode(dashboard_models.ThresholdsMode.ABSOLUTE).steps(steps))
    else:
        tooltip = common_builders.VizTooltipOptions().mode(common.TooltipDisplayMode.MULTI).sort(common.SortOrder.DESCENDING)
        # the SDK's default legend is hidden; the legend names each series (its legendFormat)
        legend = (common_builders.VizLegendOptions().show_legend(True).display_mode(common.LegendDisplayMode.LIST)
                  .placement(common.LegendPlacement.BOTTOM))  # fmt: skip
        panel = timeseries_builders.Panel().legend(legend).tooltip(tooltip).fill_opacity(10)
    panel = panel.id(panel_id).title(spec.title).description(spec.description).datasource(PROMETHEUS)
    panel = panel.span(spec.width).height(spec.height)
    if spec.unit is not None:
        panel = panel.unit(spec.unit)
    for ref, query in zip(_refs(), spec.queries, strict=False):
        panel = panel.with_target(_target(query, ref))
    return panel


def _refs() -> Iterator[str]:
    return (chr(ord("A") + i) for i in range(26))


def _variables() -> list[Builder[dashboard_models.VariableModel]]:
    source = dashboard_builders.DatasourceVariable(DATASOURCE_VARIABLE).label("Prometheus").type("prometheus")
    region = (dashboard_builders.QueryVariable("region").label("Region").datasource(PROMETHEUS)
              .query('label_values(up{job="triton"}, region)')
              .refresh(dashboard_models.VariableRefresh.ON_TIME_RANGE_CHANGED)
              .sort(dashboard_models.VariableSort.ALPHABETICAL_ASC)
              # All is `.*`, not the list of regions: a region scaled in later is still matched
              .multi(True).include_all(True).all_value(".*")
              .current(dashboard_models.VariableOption(selected=True, text="All", value="$__all")))  # fmt: skip
    return [source, region]


def _drill_annotations() -> dashboard_builders.AnnotationQuery:
    """Annotations from Grafana's own store tagged ``drillkit``: the fault window, rollback and verdict."""
    target = dashboard_builders.AnnotationTarget().type("tags").tags([ANNOTATION_TAG]).match_any(False).limit(100)
    return (dashboard_builders.AnnotationQuery().name("Drills").datasource(GRAFANA_ANNOTATIONS).enable(True)
            .icon_color("red").target(target))  # fmt: skip


def builder() -> dashboard_builders.Dashboard:
    """The dashboard as an SDK builder (``build_dashboard()`` is its JSON)."""
    board = (dashboard_builders.Dashboard(TITLE).uid(UID).tags([ANNOTATION_TAG])
             .description("Users, the HAProxy gateway and the Triton nodes of both regions during a drill; "
                          "drills are annotated (fault window, rollback, verdict).")
             .time("now-1h", "now").refresh("10s").tooltip(dashboard_models.DashboardCursorSync.CROSSHAIR)
             .variables(_variables()).annotation(_drill_annotations()))  # fmt: skip
    ids = itertools.count(1)  # explicit ids: Grafana links and panel annotations keep pointing at the same panel
    for title, panels in SECTIONS:
        board = board.with_row(dashboard_builders.Row(title).id(next(ids)))
        for spec in panels():
            board = board.with_panel(_panel(spec, next(ids)))
    return board


def build_dashboard() -> dict[str, Any]:
    """The dashboard as plain JSON data (dicts, lists, strings, numbers), keys sorted."""
    return json.loads(json.dumps(builder().build(), cls=JSONEncoder, sort_keys=True))  # type: ignore[no-any-return]


def dashboard_json() -> str:
    """The dashboard as stable text: sorted keys, two-space indent, a trailing newline."""
    return json.dumps(build_dashboard(), sort_keys=True, indent=2) + "\n"


if __name__ == "__main__":
    sys.stdout.write(dashboard_json())
