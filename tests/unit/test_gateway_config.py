"""HAProxy configuration rendering (pure) and `show stat` parsing."""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from drillkit.gateway import (
    Backend,
    GatewayCounters,
    GatewayPlan,
    ServerStatus,
    parse_counters,
    parse_stat,
    render_config,
    render_region_map,
    render_try_map,
    write_config,
)
from drillkit.spec import GatewayMode, GatewaySpec

BACKENDS = (
    Backend("primary-0", "primary", 9001, backup=False),
    Backend("primary-1", "primary", 9002, backup=False),
    Backend("standby-0", "standby", 9003, backup=True),
)

REPO = Path(__file__).resolve().parents[2]


def plan(tmp_path: Path, backends: tuple[Backend, ...] = BACKENDS, **gateway: object) -> GatewayPlan:
    return GatewayPlan(
        bind_port=8000,
        stats_port=8404,
        socket=tmp_path / "haproxy.sock",
        region_map=tmp_path / "regions.map",
        spec=GatewaySpec(**gateway),  # type: ignore[arg-type]
        backends=backends,
        try_map=tmp_path / "try_timeouts.map",
        script=tmp_path / "gateway.lua",
    )


def haproxy_check(config: Path) -> subprocess.CompletedProcess[str]:
    """``haproxy -c -f config``: the real parser's verdict on a rendered configuration."""
    return subprocess.run(["haproxy", "-c", "-f", str(config)], capture_output=True, text=True)


def test_active_passive_marks_standby_servers_as_backup(tmp_path: Path) -> None:
    cfg = render_config(plan(tmp_path))
    assert "    server primary-0 127.0.0.1:9001 check\n" in cfg
    assert "    server standby-0 127.0.0.1:9003 check backup\n" in cfg
    assert "option allbackups" in cfg


def test_active_active_has_no_backups(tmp_path: Path) -> None:
    cfg = render_config(plan(tmp_path, mode=GatewayMode.ACTIVE_ACTIVE))
    assert " backup" not in cfg.replace("allbackups", "")
    assert "option allbackups" not in cfg


def test_health_checks_probe_both_models_with_the_spec_interval(tmp_path: Path) -> None:
    cfg = render_config(plan(tmp_path, check_interval_ms=250, fall=3, rise=4))
    assert "http-check send meth GET uri /v2/models/recommend/ready" in cfg
    assert "http-check send meth GET uri /v2/models/search/ready" in cfg
    # and one real inference: a node whose GPU fails every answer while it reports ready stays out
    assert "http-check send meth POST uri /v2/models/recommend/infer hdr Content-Type application/json body '{" in cfg
    assert cfg.count("http-check expect status 200") == 3
    assert "inter 250ms fastinter 250ms downinter 250ms fall 3 rise 4" in cfg
    assert "observe layer7 error-limit 3 on-error mark-down" in cfg


def test_retries_redispatch_headers_exporter_and_socket(tmp_path: Path) -> None:
    cfg = render_config(plan(tmp_path, retries=5, retry_on=("conn-failure", "503")))
    assert "    retries 5\n" in cfg and "option redispatch 1" in cfg
    assert "retry-on conn-failure 503\n" in cfg
    assert "http-response set-header X-Drillkit-Node %[srv_name]" in cfg
    assert f"%[srv_name,map({tmp_path / 'regions.map'},unknown)]" in cfg
    assert "use-service prometheus-exporter if { path /metrics }" in cfg
    assert f"stats socket {tmp_path / 'haproxy.sock'} mode 600 level admin" in cfg
    assert "bind 127.0.0.1:8000" in cfg and "bind 127.0.0.1:8404" in cfg


def test_requests_are_buffered_whole_so_l7_retries_apply_to_every_client(tmp_path: Path) -> None:
    defaults = render_config(plan(tmp_path)).split("\nfrontend ")[0]
    assert "    option http-buffer-request\n" in defaults  # in defaults: the backend's retries need it


def test_region_map_lists_every_server() -> None:
    assert render_region_map(BACKENDS) == "primary-0 primary\nprimary-1 primary\nstandby-0 standby\n"


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is installed by `make setup`")
def test_rendered_config_is_accepted_by_haproxy(tmp_path: Path) -> None:
    p = plan(tmp_path)
    write_config(p, tmp_path / "haproxy.cfg")
    check = haproxy_check(tmp_path / "haproxy.cfg")
    assert check.returncode == 0, check.stdout + check.stderr


STAT = """# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,
gateway,FRONTEND,,,0,1,8192,3,,,,,,,,,,OPEN,,,,,,,,,1,2,0,,,,0,0,0,1,,
triton,primary-0,0,0,2,3,,40,,,,,,0,0,0,0,UP,1,1,0,0,0,5,0,,1,3,1,,40,,2,0,,3,L7OK,
triton,primary-1,0,0,0,0,,0,,,,,,0,0,0,0,DOWN,1,1,0,1,1,2,2,,1,3,2,,0,,2,0,,0,L4CON,
triton,standby-0,0,0,0,0,,0,,,,,,0,0,0,0,UP 1/2,1,0,1,0,0,2,0,,1,3,3,,0,,2,0,,0,L7STS,
triton,standby-1,0,0,0,0,,0,,,,,,0,0,0,0,MAINT,1,0,1,0,0,2,0,,1,3,4,,0,,2,0,,0,,
triton,BACKEND,0,0,2,3,800,40,,,,,,0,0,0,0,UP,1,1,1,,0,5,0,,1,3,0,,40,,1,0,,3,,
"""


def test_parse_stat_reads_server_states() -> None:
    servers = {s.name: s for s in parse_stat(STAT)}
    assert list(servers) == ["primary-0", "primary-1", "standby-0", "standby-1"]
    assert servers["primary-0"].status is ServerStatus.UP
    assert servers["primary-0"].active_sessions == 2 and servers["primary-0"].total_sessions == 40
    assert servers["primary-1"].status is ServerStatus.DOWN and servers["primary-1"].check == "L4CON"
    assert servers["standby-0"].status is ServerStatus.GOING_DOWN and servers["standby-0"].backup
    assert servers["standby-1"].status is ServerStatus.MAINT


def test_the_shipped_environments_keep_the_pause_before_a_retry_short() -> None:
    # HAProxy waits min(timeout connect, 1 s) before a connection retry that may land on the
    # same server, once per retry: at 500 ms the requests in flight at a region outage took
    # 0.5 s and failed the drills' p99 SLO (the region-outage drill test measures it end to end);
    # at 100 ms they took 110 ms, and up to 350 ms on a busy CI machine (a try on each dead
    # primary). On loopback a connect takes well under a millisecond.
    for name in ("local.yaml", "backup-local.yaml"):
        gateway = yaml.safe_load((REPO / "drills/environments" / name).read_text())["gateway"]
        assert GatewaySpec(**gateway).connect_timeout_ms <= 20, name


# --- per-try timeouts, the retry budget, counters -----------------------------------------


def test_each_try_gets_its_models_timeout_from_a_map_the_runtime_api_can_change(tmp_path: Path) -> None:
    cfg = render_config(plan(tmp_path, server_timeout_ms=1500))
    # a path the map lacks (health, metadata) keeps the server timeout
    assert f"http-request set-timeout server path,map_beg_int({tmp_path / 'try_timeouts.map'},1500)" in cfg
    assert render_try_map({"search": 240, "recommend": 100}) == "/v2/models/recommend/ 100\n/v2/models/search/ 240\n"


def test_the_retry_budget_disables_l7_retries_past_its_share_and_can_be_turned_off(tmp_path: Path) -> None:
    cfg = render_config(plan(tmp_path, retry_budget_percent=20))
    assert f"    lua-load {tmp_path / 'gateway.lua'}\n" in cfg
    assert "http-request disable-l7-retry if { lua.drillkit_retry_over_budget -m int gt 0 }" in cfg
    no_budget = render_config(plan(tmp_path, retry_budget_percent=0))
    assert "lua-load" in no_budget and "disable-l7-retry" not in no_budget  # ejection still needs the script
    off = render_config(plan(tmp_path, retry_budget_percent=0, eject_on_retry=False))
    assert "lua-load" not in off and "disable-l7-retry" not in off


def test_redispatch_can_be_turned_off_as_in_haproxys_defaults(tmp_path: Path) -> None:
    assert "    no option redispatch\n" in render_config(plan(tmp_path, redispatch=False))
    assert "    option redispatch 1\n" in render_config(plan(tmp_path))


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is installed by `make setup`")
def test_haproxy_loads_the_script_and_the_try_map(tmp_path: Path) -> None:
    p = plan(tmp_path, retry_budget_percent=10, retry_budget_min_per_s=2, retry_budget_window_s=5)
    write_config(p, tmp_path / "haproxy.cfg", {"recommend": 120, "search": 300})
    script = p.script.read_text()
    assert "local SHARE, MINIMUM, SLOTS = 0.1, 10.0, 100" in script and "local EJECT, KEEP, EJECT_AFTER = true, 0.5, 2" in script
    check = haproxy_check(tmp_path / "haproxy.cfg")
    assert check.returncode == 0, check.stdout + check.stderr


def test_a_fixed_try_timeout_cannot_outlast_the_server_timeout() -> None:
    with pytest.raises(ValueError, match="try_timeout_ms 3000 is above server_timeout_ms 2000"):
        GatewaySpec(try_timeout_ms=3000)


def test_counters_come_from_the_backend_row() -> None:
    row = "triton,BACKEND,0,0,2,3,800,57,,,,,,0,0,9,4,UP,1,1,1,,0,5,0,,1,3,0,,40,,1,0,,3,,\n"
    stat = STAT.replace("triton,BACKEND,0,0,2,3,800,40,,,,,,0,0,0,0,UP,1,1,1,,0,5,0,,1,3,0,,40,,1,0,,3,,\n", row)
    assert parse_counters(stat) == GatewayCounters(requests=57, retries=9, redispatches=4)
    assert parse_counters("# pxname,svname\n") == GatewayCounters(0, 0, 0)
