"""The userspace TCP fault proxy placed between the gateway and every local node.

``python -m drillkit.netfault --config routes.json --control-port 0 --ready-file ready.json``
binds every route (port 0: a free one), writes the ready file, then serves until SIGTERM.
"""

from drillkit.netfault.control import ControlServer, NetfaultClient
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

__all__ = [
    "ControlServer", "FaultProxy", "Fault", "NetfaultClient", "ProxyConfig", "ProxyReady", "RouteConfig",
    "RouteState", "RouteStats", "read_config", "read_ready_file", "write_config",
]  # fmt: skip
