"""Hostile callers of the fault proxy's control API (issue 15, hole 6).

A web page can reach a loopback port by DNS rebinding: its requests carry the page's own
Host name and no credentials. The proxy must answer only callers that send the bearer token
kept in the state folder (0600), and only requests addressed to 127.0.0.1 or localhost.
Real proxies on port 0 (a thread, and the real ``python -m drillkit.netfault`` process).
"""

from __future__ import annotations

import http.client
import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from drillkit.errors import ComponentError
from drillkit.netfault import (
    TOKEN_FILE,
    Fault,
    FaultProxy,
    NetfaultClient,
    ProxyConfig,
    RouteConfig,
    read_ready_file,
    read_token_file,
    write_config,
)  # fmt: skip


@pytest.fixture
def proxy() -> Iterator[FaultProxy]:
    with FaultProxy(ProxyConfig(routes=(RouteConfig(name="node", upstream_port=9),))).start_thread() as running:
        yield running


def raw(port: int, headers: dict[str, str], method: str = "GET", path: str = "/routes") -> tuple[int, object]:
    """One request with exactly ``headers`` (no automatic Host): (status, decoded JSON body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        conn.close()


def control_port(proxy: FaultProxy) -> int:
    assert proxy.ready is not None
    return proxy.ready.control_port


def test_a_request_without_the_token_or_with_a_wrong_one_gets_401(proxy: FaultProxy) -> None:
    port, host = control_port(proxy), f"127.0.0.1:{control_port(proxy)}"
    for headers in ({"Host": host}, {"Host": host, "Authorization": "Bearer guessed"},
                    {"Host": host, "Authorization": proxy.token}):  # fmt: skip  (no "Bearer ")
        status, body = raw(port, headers, "DELETE", "/faults")
        assert status == 401, headers
        assert isinstance(body, dict) and "bearer token" in body["error"] and proxy.token not in body["error"]
    assert raw(port, {"Host": host}, "GET", "/healthz")[0] == 401  # nothing answers without it


def test_a_request_for_another_host_name_is_refused_even_with_the_token(proxy: FaultProxy) -> None:
    port, auth = control_port(proxy), f"Bearer {proxy.token}"
    for host in (f"attacker.example:{port}", "127.0.0.1.attacker.example", "localhost.attacker.example:80", ""):
        status, body = raw(port, {"Host": host, "Authorization": auth})
        assert status == 403, host
        assert isinstance(body, dict) and "127.0.0.1 or localhost" in body["error"]
    assert raw(port, {"Authorization": auth})[0] == 403  # no Host header at all
    assert raw(port, {"Host": f"localhost:{port}", "Authorization": auth})[0] == 200
    assert raw(port, {"Host": "127.0.0.1", "Authorization": auth})[0] == 200


def test_a_repeated_host_or_authorization_header_is_a_bad_request(proxy: FaultProxy) -> None:
    port = control_port(proxy)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.putrequest("GET", "/routes", skip_host=True)
        for value in (f"127.0.0.1:{port}", "attacker.example"):
            conn.putheader("Host", value)
        conn.putheader("Authorization", f"Bearer {proxy.token}")
        conn.endheaders()
        assert conn.getresponse().status == 400
    finally:
        conn.close()


def test_the_client_sends_the_token_and_without_it_gets_a_clear_error(proxy: FaultProxy) -> None:
    url = f"http://127.0.0.1:{control_port(proxy)}"
    assert NetfaultClient(url, token=proxy.token).set_fault("node", Fault(latency_ms=5)).fault.latency_ms == 5
    with pytest.raises(ComponentError, match="-> 401: missing or wrong bearer token"):
        NetfaultClient(url, token="x" * 43).routes()
    assert NetfaultClient(url, token="x" * 43).health() is False


def test_the_process_keeps_its_token_in_a_0600_file_that_the_client_reads(tmp_path: Path) -> None:
    write_config(tmp_path / "routes.json", [RouteConfig(name="node", upstream_port=9)])
    token_file = tmp_path / TOKEN_FILE
    token_file.write_text("stale-token-from-a-previous-run")
    command = [sys.executable, "-m", "drillkit.netfault", "--config", str(tmp_path / "routes.json"),
               "--ready-file", str(tmp_path / "ready.json"), "--token-file", str(token_file)]  # fmt: skip
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10
        while not (tmp_path / "ready.json").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        ready = read_ready_file(tmp_path / "ready.json")
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        assert token_file.read_text() != "stale-token-from-a-previous-run"  # a fresh token every start
        client = NetfaultClient.from_state(tmp_path, f"http://127.0.0.1:{ready.control_port}")
        assert client.health() and [r.name for r in client.routes()] == ["node"]
        assert raw(ready.control_port, {"Host": f"127.0.0.1:{ready.control_port}"})[0] == 401
    finally:
        child.terminate()
        _, stderr = child.communicate(timeout=5)
    assert token_file.read_text() not in stderr  # the log never shows the token


def test_the_process_needs_a_token_file(tmp_path: Path) -> None:
    write_config(tmp_path / "routes.json", [RouteConfig(name="node", upstream_port=9)])
    done = subprocess.run([sys.executable, "-m", "drillkit.netfault", "--config", str(tmp_path / "routes.json")],
                          capture_output=True, text=True, timeout=20, check=False)  # fmt: skip
    assert done.returncode == 2 and "--token-file" in done.stderr


def test_a_token_file_that_others_can_read_or_that_is_a_symlink_is_refused(tmp_path: Path) -> None:
    good = tmp_path / "good.token"
    good.write_text("A" * 43)
    good.chmod(0o600)
    assert read_token_file(good) == "A" * 43
    loose = tmp_path / "loose.token"
    loose.write_text("A" * 43)
    loose.chmod(0o644)
    with pytest.raises(ComponentError, match="readable by others"):
        read_token_file(loose)
    link = tmp_path / "link.token"
    link.symlink_to(good)
    with pytest.raises(ComponentError, match="cannot open"):
        read_token_file(link)
    garbage = tmp_path / "garbage.token"
    garbage.write_text("not a token\r\nX-Injected: 1")
    garbage.chmod(0o600)
    with pytest.raises(ComponentError, match="is not a token"):
        read_token_file(garbage)
    with pytest.raises(ComponentError, match=r"missing\.token: cannot open it.*drillkit up"):
        read_token_file(tmp_path / "missing.token")
    fifo = tmp_path / "fifo.token"
    os.mkfifo(fifo, 0o600)
    with pytest.raises(ComponentError, match="not a regular file"):
        read_token_file(fifo)  # and it does not block on a FIFO that nobody writes
