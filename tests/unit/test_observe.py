"""Prometheus scrape configuration rendering and the load-generator slot."""

from pathlib import Path

import yaml

from drillkit.observe import NodeTarget, ScrapePlan, prometheus_command, render_config


def test_every_node_is_scraped_with_region_and_node_labels(tmp_path: Path) -> None:
    plan = ScrapePlan(
        interval_s=1.0,
        nodes=(NodeTarget("primary-0", "primary", 9102), NodeTarget("standby-0", "standby", 9202)),
        gateway_stats_port=8404,
        loadgen_dir=tmp_path / "loadgen",
    )
    config = yaml.safe_load(render_config(plan))
    assert config["global"]["scrape_interval"] == "1s"
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["triton"]["static_configs"] == [
        {"targets": ["127.0.0.1:9102"], "labels": {"region": "primary", "node": "primary-0"}},
        {"targets": ["127.0.0.1:9202"], "labels": {"region": "standby", "node": "standby-0"}},
    ]
    assert jobs["gateway"]["static_configs"] == [{"targets": ["127.0.0.1:8404"]}]
    assert jobs["loadgen"]["file_sd_configs"][0]["files"] == [str(tmp_path / "loadgen" / "*.json")]


def test_command_keeps_the_tsdb_in_the_state_folder_and_binds_loopback(tmp_path: Path) -> None:
    command = prometheus_command("prometheus", config=tmp_path / "p.yml", data_dir=tmp_path / "tsdb", port=9090, retention="2d")
    assert f"--storage.tsdb.path={tmp_path / 'tsdb'}" in command
    assert "--web.listen-address=127.0.0.1:9090" in command
