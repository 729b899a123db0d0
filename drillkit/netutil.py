"""Small loopback helpers: free ports and a bounded HTTP GET.

>>> port = free_port()
>>> port_is_free(port)
True
"""

from __future__ import annotations

import http.client
import ipaddress
import random
import socket
import threading
from pathlib import Path
from urllib.parse import urlsplit

_EPHEMERAL = Path("/proc/sys/net/ipv4/ip_local_port_range")
# Ports this process handed out: a caller binds its port later (a Triton node, HAProxy), so the
# next call must not return the same one in between.
_handed: set[int] = set()
_lock = threading.Lock()


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` stays on this machine: ``localhost``, 127.0.0.0/8 or ::1. Credentials may go
    there over plain http (a local server, a port-forward); anywhere else they need TLS.

    >>> [is_loopback(h) for h in ("localhost", "127.0.0.1", "::1", "10.0.0.7", "grafana.example.com", None)]
    [True, True, True, False, False, False]
    """
    if host is None:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name: only `localhost` is known to stay on this host
        return False


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now, outside the kernel's ephemeral range.

    A port from that range (what binding port 0 returns) is also what every outgoing connection
    takes as its local port: the load generator's, a health check's. Between this call and the
    bind of the process the port is for, one of them took it now and then, and a node failed
    to start with "address already in use". Below the range only listeners take ports.
    """
    low, high = ephemeral_range()
    spans = [(1024, low - 1), (high + 1, 65535)]
    first, last = max(spans, key=lambda s: s[1] - s[0])
    with _lock:
        for _ in range(500):
            port = random.randint(first, last)
            if port not in _handed and port_is_free(port):
                _handed.add(port)
                return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:  # a crowded machine: any free port
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ephemeral_range() -> tuple[int, int]:
    """The kernel's range of local ports for outgoing connections (Linux' default where unreadable)."""
    try:
        low, high = (int(v) for v in _EPHEMERAL.read_text().split())
    except (OSError, ValueError):
        return 32768, 60999
    return low, high


def port_is_free(port: int) -> bool:
    """True when 127.0.0.1:port can be bound."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def http_status(url: str, *, timeout_s: float = 1.0) -> int | None:
    """Status code of ``GET url``, or None when nothing answered in time."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=timeout_s)
    try:
        conn.request("GET", parts.path or "/")
        response = conn.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()
