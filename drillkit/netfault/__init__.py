"""The userspace TCP fault proxy placed between the gateway and every local node.

The kernel here has no netem and no iptables, so one asyncio process forwards every node's
traffic and, per route, adds latency ± jitter, resets connections, blackholes (partitions)
or caps bandwidth, changed at run time through a small HTTP control API.

``python -m drillkit.netfault --config routes.json --control-port 0 --ready-file ready.json
--token-file netfault.token`` writes a fresh bearer token (0600), binds every route (port 0:
a free one) on 127.0.0.1, writes the ready file ``{"pid", "control_port", "routes": {name:
listen_port}}``, then serves until SIGTERM. The control API answers only requests for
127.0.0.1 / localhost that carry the token.

>>> write_config(Path("routes.json"), [RouteConfig(name="primary-0", upstream_port=8000)])  # doctest: +SKIP
>>> ready = read_ready_file(Path("ready.json"))                                           # doctest: +SKIP
>>> client = NetfaultClient.from_state(Path("."), f"http://127.0.0.1:{ready.control_port}")  # doctest: +SKIP
>>> client.set_fault("primary-0", Fault(blackhole=True))                                  # doctest: +SKIP

Modules: ``faults`` (models and files), ``proxy`` (a route's shared state and its port, which
mirrors the node's: closed while the node refuses connections), ``pipe`` (the data path) and
``lane`` (one direction of it), ``control`` (the control API server), ``token`` (its bearer
token file), ``client`` (its typed client), ``server`` (the process: ``FaultProxy``), ``__main__`` (the command line).
"""

from drillkit.netfault.client import NetfaultClient
from drillkit.netfault.control import ControlServer
from drillkit.netfault.faults import (
    Fault,
    ProxyConfig,
    ProxyReady,
    RouteConfig,
    RouteState,
    RouteStats,
    read_config,
    read_ready_file,
    write_config,
)
from drillkit.netfault.server import FaultProxy
from drillkit.netfault.token import TOKEN_FILE, read_token_file

__all__ = [
    "TOKEN_FILE",
    "ControlServer",
    "Fault",
    "FaultProxy",
    "NetfaultClient",
    "ProxyConfig",
    "ProxyReady",
    "RouteConfig",
    "RouteState",
    "RouteStats",
    "read_config",
    "read_ready_file",
    "read_token_file",
    "write_config",
]  # fmt: skip
