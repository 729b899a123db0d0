"""The gateway: HAProxy configuration rendering and its runtime API.

HAProxy plays the global load balancer in front of both regions. The configuration is a
pure function of a ``GatewayPlan`` so it can be unit-tested line by line:

>>> plan = GatewayPlan(bind_port=8000, stats_port=8404, socket=Path("/tmp/h.sock"),
...     region_map=Path("/tmp/regions.map"), spec=GatewaySpec(),
...     backends=(Backend("primary-0", "primary", 9001, backup=False),))
>>> "server primary-0 127.0.0.1:9001 check" in render_config(plan)
True

Design choices, each for a drill's sake:
- health checks go *through* the fault proxy, so a partition is seen by the checks as by
  users, and one of them is a real inference (``recommend``, k=1): a node whose GPU fails
  every inference while its readiness stays green (ECC errors) must stay out, not flap back
  in every time its ready endpoint answers and fail the next user's request;
- ``retries`` + ``option redispatch`` + ``retry-on``: inference is read-only, so replaying a
  request on another server is safe, and a dying node should not become a client error
  where a retry can save it;
- ``option http-buffer-request``: every retry-on event but ``conn-failure`` is an L7 retry,
  which replays a copy of the request that HAProxy keeps only when the whole request is in
  at the first send. A client that writes the body after the headers (``http.client``,
  urllib3) would lose its retries: a 502, or on a keep-alive connection a close without an
  answer or a log line. So the gateway waits for the body (up to ``tune.bufsize``, 16 kB;
  inference requests here are far smaller) before it picks a server;
- ``observe layer7 error-limit``: passive checks take out a node whose answers fail while
  its readiness stays green (a GPU with ECC errors), or that stopped answering (a hung or
  blackholed node: its first timed-out try marks it down, so only the requests already in
  flight on it wait);
- a per-try timeout per model (``http-request set-timeout server`` from a map the runtime
  API can change): one try of a request gets a few times what a busy node needs for that
  model (``drillkit/try_timeout.py``), then it is retried elsewhere. A hang costs the requests
  in flight that much, instead of the whole server timeout;
- a Lua script (``gateway.lua``): a server that a try was retried from is taken out at once
  (HAProxy's passive checks see only a request's final answer, never a retried try), and a
  retry budget: L7 retries over the last seconds may be at most a share of the requests, so a
  region-wide slowdown is not multiplied into a retry storm.
- ``X-Drillkit-Node`` / ``X-Drillkit-Region`` / ``X-Drillkit-Version`` response headers: the
  load generator records who served each request, and which model version answered it, which
  is how failover, failback and a bad release's wrong answers are measured.
"""

from __future__ import annotations

import csv
import io
import json
import re
import socket
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from drillkit.errors import ComponentError, PlanError
from drillkit.headers import NODE_HEADER, REGION_HEADER, SHED_HEADER, TARGET_HEADER, VERSION_HEADER
from drillkit.model.repository import RECOMMENDER_MODELS
from drillkit.spec import GatewayMode, GatewaySpec
from drillkit.workload.golden import GoldenSet
from drillkit.workload.tensors import to_json

BACKEND = "triton"
MODELS = RECOMMENDER_MODELS


@dataclass(frozen=True)
class InferenceCheck:
    """The deep check's request: a real inference, in KServe JSON (one line: it sits in haproxy.cfg)."""

    model: str
    body: str


# The built-in recommender's: user 0's top item.
RECOMMENDER_CHECK = InferenceCheck("recommend", '{"inputs":[{"name":"user_id","shape":[1,1],"datatype":"INT64","data":[0]},'
                                                '{"name":"k","shape":[1,1],"datatype":"INT32","data":[1]}]}')  # fmt: skip
MAX_CHECK_BODY = 2048  # a health check runs every interval on every node: keep it a small request


def inference_check(golden: GoldenSet) -> InferenceCheck | None:
    """The deep check for a workload: the recommender's own, or the first golden probe of a user's
    model when its inputs are small and plain enough to paste into the configuration."""
    if golden.source == "manifest":
        return RECOMMENDER_CHECK
    probe = golden.probes[0]
    body = json.dumps({"inputs": [to_json(t) for t in probe.inputs]}, separators=(",", ":"))
    if len(body) > MAX_CHECK_BODY or "'" in body or "\\" in body or not body.isascii():
        return None  # readiness checks only: the canary still sends this probe through the gateway
    return InferenceCheck(probe.model, body)


@dataclass(frozen=True)
class Served:
    """What a gateway checks on every node: each model's readiness, and one real inference
    (the built-in recommender's until a user's model has golden answers to send)."""

    models: tuple[str, ...] = MODELS
    check: InferenceCheck | None = RECOMMENDER_CHECK

    @classmethod
    def of(cls, models: tuple[str, ...], golden: GoldenSet | None) -> Served:
        return cls(models, inference_check(golden) if golden is not None else None)




@dataclass(frozen=True)
class Backend:
    """One inference node as the gateway sees it: the fault proxy's port in front of it."""

    name: str
    region: str
    port: int
    backup: bool
    version: str = ""  # the model version the node serves (the version response header)
    slot: bool = False  # a server for a node scaling out may add: declared disabled, enabled live


@dataclass(frozen=True)
class GatewayPlan:
    """Everything the HAProxy configuration depends on (``try_map`` and ``script`` are the files
    ``render_try_map`` and ``render_script`` fill, beside the configuration)."""

    bind_port: int
    stats_port: int
    socket: Path
    region_map: Path
    spec: GatewaySpec
    backends: tuple[Backend, ...]
    try_map: Path = Path("try_timeouts.map")
    script: Path = Path("gateway.lua")
    served: Served = Served()  # every model's readiness is checked, and each has a per-try timeout
    version_map: Path | None = None  # server -> model version, changed live by rollouts (None: no header)


# Characters HAProxy reads as syntax where drillkit pastes a value (line and word breaks,
# comments, quotes, escapes, and the `,` and `)` of the `map(...)` converter).
_UNSAFE = re.compile(r"[\x00-\x20\x7f-\x9f\u2028\u2029#\"'\\,()]")


def render_config(plan: GatewayPlan) -> str:
    """The complete haproxy.cfg for ``plan``; PlanError when a value would break out of its place."""
    _check_plan(plan)
    return "\n".join(
        [_global(plan), _defaults(plan.spec), _frontend(plan), _stats(plan), _backend(plan), ""]
    )


def _check_plan(plan: GatewayPlan) -> None:
    """Defense in depth: the specs refuse control characters already, but a value that reaches the
    config (a path from a state folder, a name) must never add a line or a keyword of its own."""
    _check_value("socket", str(plan.socket))
    _check_value("region_map", str(plan.region_map))
    _check_value("try_map", str(plan.try_map))
    _check_value("script", str(plan.script))
    if plan.version_map is not None:
        _check_value("version_map", str(plan.version_map))
    _check_backends(plan.backends)


def _check_backends(backends: tuple[Backend, ...]) -> None:
    for b in backends:
        _check_value("backend name", b.name)
        _check_value(f"backend {b.name!r} region", b.region)
        _check_value(f"backend {b.name!r} version", b.version)


def _check_value(field: str, value: str) -> None:
    bad = _UNSAFE.search(value)
    if bad is not None:
        raise PlanError(f"gateway config: {field} {value!r} holds {bad.group()!r} at position {bad.start()}, which HAProxy "
                        "would read as syntax (fix: use a state_dir path and names without spaces, quotes, '#', ',', "
                        "'(' or ')', and without control characters)")  # fmt: skip


def write_config(plan: GatewayPlan, config: Path, try_timeouts_ms: dict[str, int] | None = None) -> None:
    """Write ``config`` (haproxy.cfg) and every file it loads: the region map, the per-try timeouts
    (``initial_try_timeouts`` unless given) and the Lua script (ejection, retry budget)."""
    text = render_config(plan)
    plan.region_map.write_text(render_region_map(plan.backends))
    if plan.version_map is not None:
        plan.version_map.write_text(render_version_map(plan.backends))
    plan.try_map.write_text(render_try_map(try_timeouts_ms or initial_try_timeouts(plan.spec, plan.served.models)))
    plan.script.write_text(render_script(plan.spec))
    config.write_text(text)


def render_region_map(backends: tuple[Backend, ...]) -> str:
    """HAProxy map file: server name -> region (read by the region response header)."""
    _check_backends(backends)
    return "".join(f"{b.name} {b.region}\n" for b in backends)


def render_version_map(backends: tuple[Backend, ...]) -> str:
    """HAProxy map file: server name -> the model version it serves (read by the version header)."""
    _check_backends(backends)
    return "".join(f"{b.name} {b.version or 'unknown'}\n" for b in backends)


def render_try_map(timeouts_ms: dict[str, int]) -> str:
    """HAProxy map file: a model's inference path prefix -> its per-try timeout in ms."""
    for model in timeouts_ms:
        _check_value("model name", model)
    return "".join(f"{try_key(model)} {int(ms)}\n" for model, ms in sorted(timeouts_ms.items()))


def try_key(model: str) -> str:
    """The map key of ``model``: the prefix of its KServe v2 paths."""
    return f"/v2/models/{model}/"


def initial_try_timeouts(spec: GatewaySpec, models: tuple[str, ...] = MODELS) -> dict[str, int]:
    """Per-try timeouts before any latency was measured: the fixed one, else the server timeout
    (so nothing healthy is cut short until ``drillkit up`` has measured the models)."""
    return {m: spec.try_timeout_ms or spec.server_timeout_ms for m in models}


# The gateway's Lua script (HAProxy has no retry budget and its passive checks never see a try
# that was retried, only a request's final answer), with two parts, each optional:
# - ejection: a task samples each server's retry counter (`wretr`, counted on the server a try
#   failed on: a timeout, a refused or empty answer, a 404/503) every 50 ms, and a server that a
#   try was retried from twice within a second (``eject_after_retries``) is forced down at once;
#   its checks bring it back. Two, not one: a single slow but healthy request on a busy node must
#   not take the node out, and a poison request (one that fails on every node) is retried onto
#   several, once each. A hung node fails every request in flight on it, so it reaches two within
#   milliseconds. As Envoy's outlier detection caps ejections, so does this one
#   (``eject_max_percent``).
#   So a hung or blackholed node costs only the requests already in flight on it.
# - budget: L7 retries over the window (the backend's `wretr`) against its requests (`stot`),
#   read as each request starts; past the budget the request gets `disable-l7-retry`, and only a
#   failed connection (no work done) is retried.
_SCRIPT = """-- drillkit's gateway script for backend {backend}: rendered by drillkit/gateway.py.
local BACKEND, STEP_MS = "{backend}", 50
local EJECT, KEEP, EJECT_AFTER = {eject}, {keep!r}, {after}  -- never fewer than KEEP of the servers up
local SECOND = 1000 / STEP_MS
-- budget: over the last {window:g} s, L7 retries may be at most {percent:g} per 100 requests, plus {minimum:g} a second
local SHARE, MINIMUM, SLOTS = {share!r}, {allowance!r}, {slots}
local ring, head, retried = {{}}, 0, {{}}

local function up_servers(servers)
  -- a server in maintenance (an empty scale-out slot, a drained node) is not one of the servers
  local up, total = 0, 0
  for _, srv in pairs(servers) do
    local status = srv:get_stats().status or ""
    if string.sub(status, 1, 5) ~= "MAINT" then total = total + 1 end
    if string.sub(status, 1, 2) == "UP" then up = up + 1 end
  end
  return up, total
end

local function eject(servers)
  -- a server with EJECT_AFTER retried tries over the last second, one of them new, is forced down
  for name, srv in pairs(servers) do
    local retries = tonumber(srv:get_stats().wretr) or 0
    local seen = retried[name] or {{}}
    retried[name] = seen
    local oldest, newest = seen[1], seen[#seen]
    if oldest ~= nil and retries > newest and retries - oldest >= EJECT_AFTER then
      local up, total = up_servers(servers)
      if up - 1 >= math.max(1, math.ceil(total * KEEP)) then srv:check_force_down() end
    end
    table.insert(seen, retries)
    if #seen > SECOND then table.remove(seen, 1) end
  end
end

local function counters()
  local s = core.backends[BACKEND]:get_stats()
  return tonumber(s.wretr) or 0, tonumber(s.stot) or 0
end

core.register_task(function()
  while true do
    if EJECT then eject(core.backends[BACKEND].servers) end
    local retries, requests = counters()
    head = head % SLOTS + 1
    ring[head] = {{retries, requests}}
    core.msleep(STEP_MS)
  end
end)

core.register_fetches("drillkit_retry_over_budget", function(txn)
  local oldest = ring[head % SLOTS + 1] or ring[1]
  if oldest == nil then return 0 end
  local retries, requests = counters()
  if retries - oldest[1] >= SHARE * (requests - oldest[2]) + MINIMUM then return 1 end
  return 0
end)
"""


def uses_script(spec: GatewaySpec) -> bool:
    """Whether the configuration loads the Lua script (ejection or a retry budget is on)."""
    return spec.eject_on_retry or spec.retry_budget_percent > 0


def render_script(spec: GatewaySpec) -> str:
    """The gateway's Lua script: ejection on a retried try, and the retry budget."""
    window = spec.retry_budget_window_s
    return _SCRIPT.format(backend=BACKEND, eject="true" if spec.eject_on_retry else "false",
                          keep=round(1 - spec.eject_max_percent / 100, 4), after=spec.eject_after_retries, window=window,
                          percent=spec.retry_budget_percent, minimum=spec.retry_budget_min_per_s,
                          share=spec.retry_budget_percent / 100, allowance=float(spec.retry_budget_min_per_s * window),
                          slots=max(1, round(window * 1000 / 50)))  # fmt: skip


def _global(plan: GatewayPlan) -> str:
    budget = f"    lua-load {plan.script}\n" if uses_script(plan.spec) else ""
    return f"""global
    log stderr format short local0 info
    stats socket {plan.socket} mode 600 level admin
    stats timeout 10s
    maxconn 8192
    # one thread: on a 2-core box the inference nodes need the other core
    nbthread 1
{budget}"""


def _defaults(spec: GatewaySpec) -> str:
    return f"""defaults
    mode http
    log global
    option dontlognull
    option httplog
    timeout connect {spec.connect_timeout_ms}ms
    timeout server {spec.server_timeout_ms}ms
    timeout client 60s
    timeout http-request 10s
    timeout http-keep-alive 60s
    timeout check {spec.check_timeout_ms or max(spec.check_interval_ms, 200)}ms
    retries {spec.retries}
{"    option redispatch 1" if spec.redispatch else "    no option redispatch"}
    retry-on {" ".join(spec.retry_on)}
    option http-buffer-request
    http-reuse safe
"""


def _frontend(plan: GatewayPlan) -> str:
    return f"""frontend gateway
    bind 127.0.0.1:{plan.bind_port}
    option http-keep-alive
{_shed(plan.spec)}{_region_targets(plan)}    default_backend {BACKEND}
    http-response set-header {NODE_HEADER} %[srv_name]
    http-response set-header {REGION_HEADER} %[srv_name,map({plan.region_map},unknown)]
{_version_header(plan)}"""


def _shed(spec: GatewaySpec) -> str:
    # Past max_queue waiting requests, a new one is answered at once: a fast, marked 503 instead
    # of a wait that grows with the queue. Requests already queued wait at most queue_timeout_ms.
    if spec.max_queue is None:
        return ""
    return (f'    http-request return status 503 content-type text/plain string "shed: the gateway\'s queue is full" '
            f"hdr {SHED_HEADER} overload if {{ queue({BACKEND}) ge {spec.max_queue} }}\n")  # fmt: skip


def regions_of(plan: GatewayPlan) -> list[str]:
    return list(dict.fromkeys(b.region for b in plan.backends))


def _region_targets(plan: GatewayPlan) -> str:
    # A request naming a region (a capacity ramp) reaches that region's nodes only, through the
    # same fault proxy and per-try timeouts: what one region can serve, measured at the gateway.
    return "".join(f"    use_backend {region_backend(r)} if {{ req.hdr({TARGET_HEADER}) -m str {r} }}\n" for r in regions_of(plan))


def region_backend(region: str) -> str:
    return f"region-{region}"


def _version_header(plan: GatewayPlan) -> str:
    # Which model version answered each request: how a rollout's wrong answers are counted.
    if plan.version_map is None:
        return ""
    return f"    http-response set-header {VERSION_HEADER} %[srv_name,map({plan.version_map},unknown)]\n"


def _stats(plan: GatewayPlan) -> str:
    return f"""frontend stats
    bind 127.0.0.1:{plan.stats_port}
    http-request use-service prometheus-exporter if {{ path /metrics }}
    stats enable
    stats uri /stats
    stats refresh 1s
"""


def _backend(plan: GatewayPlan) -> str:
    spec = plan.spec
    sends = [f"meth GET uri /v2/models/{model}/ready" for model in plan.served.models]
    if plan.served.check is not None:
        check = plan.served.check
        sends.append(f"meth POST uri /v2/models/{check.model}/infer hdr Content-Type application/json body '{check.body}'")
    checks = "".join(f"    http-check connect\n    http-check send {send}\n    http-check expect status 200\n" for send in sends)
    interval = spec.check_interval_ms
    # Passive checks: a node whose connections or answers fail (a crashed node; a GPU with
    # ECC errors that stays "ready") is taken out after error_limit consecutive errors,
    # before the active checks notice, so retries find the standby at once.
    passive = f" observe layer7 error-limit {spec.error_limit} on-error mark-down" if spec.error_limit else ""
    lines = [
        f"backend {BACKEND}",
        "    balance leastconn",
        f"    http-request set-timeout server path,map_beg_int({plan.try_map},{spec.server_timeout_ms})",
    ]
    if spec.retry_budget_percent > 0:
        lines.append("    http-request disable-l7-retry if { lua.drillkit_retry_over_budget -m int gt 0 }")
    lines += [
        "    option httpchk",
        checks.rstrip("\n"),
        f"    default-server inter {interval}ms fastinter {interval}ms downinter {interval}ms "
        f"fall {spec.fall} rise {spec.rise}{passive}",
    ]
    if spec.maxconn_per_node is not None:
        lines[-1] += f" maxconn {spec.maxconn_per_node}"
        lines.append(f"    timeout queue {spec.queue_timeout_ms}ms")
    if spec.mode is GatewayMode.ACTIVE_PASSIVE:
        lines.append("    option allbackups  # when the primary region is down, every standby node serves")
    for b in plan.backends:
        backup = " backup" if b.backup and spec.mode is GatewayMode.ACTIVE_PASSIVE else ""
        lines.append(f"    server {b.name} 127.0.0.1:{b.port} check{backup}{_disabled(b)}")
    return "\n".join(lines) + "\n" + "".join(_region_backend(plan, r) for r in regions_of(plan))


def _disabled(b: Backend) -> str:
    return " disabled  # a slot: scaling out gives it a node" if b.slot else ""


def _region_backend(plan: GatewayPlan, region: str) -> str:
    """One region's nodes, tracking their state in the main backend (no second set of checks)."""
    lines = [f"backend {region_backend(region)}", "    balance leastconn",
             f"    http-request set-timeout server path,map_beg_int({plan.try_map},{plan.spec.server_timeout_ms})"]  # fmt: skip
    for b in (b for b in plan.backends if b.region == region):
        lines.append(f"    server {b.name} 127.0.0.1:{b.port} track {BACKEND}/{b.name}{_disabled(b)}")
    return "\n".join(lines) + "\n"


class ServerStatus(StrEnum):
    """A server's state as HAProxy reports it (the runtime API's ``status`` column)."""

    UP = "UP"
    DOWN = "DOWN"
    MAINT = "MAINT"
    DRAIN = "DRAIN"
    NOLB = "NOLB"
    GOING_DOWN = "GOING_DOWN"  # "UP 1/2": up but failing checks
    COMING_UP = "COMING_UP"  # "DOWN 1/2": down but passing checks
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True)
class ServerState:
    """One backend server as the gateway sees it right now."""

    name: str
    status: ServerStatus
    backup: bool
    check: str  # last check status, e.g. L7OK, L4CON, L7STS
    active_sessions: int
    total_sessions: int


class RuntimeApi:
    """HAProxy's runtime API over its admin socket.

    >>> RuntimeApi(Path(".drillkit/local/haproxy.sock")).servers()   # doctest: +SKIP
    [ServerState(name='primary-0', status=<ServerStatus.UP: 'UP'>, ...), ...]
    """

    def __init__(self, socket_path: Path, *, timeout_s: float = 2.0) -> None:
        self.socket_path = socket_path
        self.timeout_s = timeout_s

    def command(self, line: str) -> str:
        """Send one command and return HAProxy's whole answer."""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(self.timeout_s)
                sock.connect(str(self.socket_path))
                sock.sendall(line.encode() + b"\n")
                return _read_all(sock)
        except OSError as exc:
            raise ComponentError(f"gateway runtime API {self.socket_path}: {line!r} failed: {exc}") from exc

    def servers(self) -> list[ServerState]:
        """The backend's servers with their current status (``show stat``)."""
        return parse_stat(self.command("show stat"))

    def counters(self) -> GatewayCounters:
        """The backend's request, retry and redispatch counters (``show stat``)."""
        return parse_counters(self.command("show stat"))

    def set_try_timeout(self, try_map: Path, model: str, timeout_ms: int) -> None:
        """Change ``model``'s per-try timeout live (``set map``; the entry must exist)."""
        _check_value("model name", model)
        answer = self.command(f"set map {try_map} {try_key(model)} {int(timeout_ms)}").strip()
        if answer:
            raise ComponentError(f"gateway refused to set the per-try timeout of {model}: {answer}")

    def set_version(self, version_map: Path, server: str, version: str) -> None:
        """Say live which model version ``server`` serves (``set map``; the entry must exist)."""
        _check_value("server name", server)
        _check_value("model version", version)
        answer = self.command(f"set map {version_map} {server} {version}").strip()
        if answer:
            raise ComponentError(f"gateway refused to set the version of {server}: {answer}")

    def set_state(self, server: str, state: str, *, backend: str = BACKEND) -> None:
        """Set a server to ``ready``, ``drain`` or ``maint`` (operator action, also for drills)."""
        answer = self.command(f"set server {backend}/{server} state {state}").strip()
        if answer:
            raise ComponentError(f"gateway refused 'set server {server} state {state}': {answer}")

    def fill_slot(self, server: str, region: str, port: int) -> None:
        """Point a scale-out slot at a node's port and take it out of maintenance (in the main
        backend and its region's); its checks then bring it UP."""
        for backend in (BACKEND, region_backend(region)):
            answer = self.command(f"set server {backend}/{server} addr 127.0.0.1 port {int(port)}").strip()
            if answer and "changed" not in answer and "no need to change" not in answer:
                raise ComponentError(f"gateway refused to point {backend}/{server} at port {port}: {answer}")
            self.set_state(server, "ready", backend=backend)

    def empty_slot(self, server: str, region: str) -> None:
        """Put a slot back in maintenance: no request reaches it (drain it first)."""
        for backend in (BACKEND, region_backend(region)):
            self.set_state(server, "maint", backend=backend)


@dataclass(frozen=True)
class GatewayCounters:
    """The inference backend's cumulative counters: requests it took (``stot``), retries of any
    kind (``wretr``: connection and L7) and redispatches to another server (``wredis``)."""

    requests: int
    retries: int
    redispatches: int


def parse_counters(text: str) -> GatewayCounters:
    """The inference backend's counters from ``show stat`` CSV (zeros when the row is missing)."""
    rows = csv.DictReader(io.StringIO(text.lstrip("# ")))
    row = next((r for r in rows if r.get("pxname") == BACKEND and r.get("svname") == "BACKEND"), {})
    return GatewayCounters(requests=_int(row.get("stot")), retries=_int(row.get("wretr")), redispatches=_int(row.get("wredis")))


def _int(raw: str | None) -> int:
    try:
        return max(0, int(raw or 0))
    except ValueError:
        return 0


def parse_stat(text: str) -> list[ServerState]:
    """Parse ``show stat`` CSV into the servers of the inference backend."""
    rows = csv.DictReader(io.StringIO(text.lstrip("# ")))
    return [_server(row) for row in rows if row.get("pxname") == BACKEND and row["svname"] not in ("FRONTEND", "BACKEND")]


def _server(row: dict[str, str]) -> ServerState:
    return ServerState(
        name=row["svname"],
        status=_status(row["status"]),
        backup=row.get("bck") == "1",
        check=row.get("check_status", ""),
        active_sessions=int(row.get("scur") or 0),
        total_sessions=int(row.get("stot") or 0),
    )


def _status(raw: str) -> ServerStatus:
    if raw.startswith("UP ") and "/" in raw:
        return ServerStatus.GOING_DOWN
    if raw.startswith("DOWN ") and "/" in raw:
        return ServerStatus.COMING_UP
    head = raw.split(" ")[0]
    return ServerStatus(head) if head in ServerStatus.__members__ else ServerStatus.UNKNOWN


def _read_all(sock: socket.socket) -> str:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")
