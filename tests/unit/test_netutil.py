"""Free ports come from outside the ephemeral range, so outgoing connections cannot take them."""

from __future__ import annotations

import socket

from drillkit.netutil import ephemeral_range, free_port


def test_free_ports_are_bindable_distinct_and_outside_the_ephemeral_range() -> None:
    low, high = ephemeral_range()
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == len(ports)  # never the same port twice before its owner binds it
    assert all(not low <= p <= high for p in ports)
    for port in ports[:5]:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_an_outgoing_connection_takes_its_local_port_from_the_ephemeral_range() -> None:
    """What the fix relies on: a client's local port is in the range free_port avoids."""
    low, high = ephemeral_range()
    with socket.socket() as server:
        server.bind(("127.0.0.1", free_port()))
        server.listen()
        with socket.create_connection(server.getsockname()) as client:
            assert low <= client.getsockname()[1] <= high
