"""Environment spec validation: every error names the file, the field and a fix."""

from pathlib import Path

import pytest

from drillkit.errors import ExitCode, SpecError
from drillkit.spec import GatewayMode, load_environment

GOOD = """
name: local
regions:
  - {name: primary, role: primary, nodes: 2}
  - {name: standby, role: standby}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "env.yaml"
    path.write_text(text)
    return path


def error_for(tmp_path: Path, text: str) -> SpecError:
    with pytest.raises(SpecError) as caught:
        load_environment(write(tmp_path, text))
    return caught.value


def test_the_shipped_local_environment_is_valid() -> None:
    spec = load_environment("drills/environments/local.yaml")
    assert spec.primary.name == "primary"
    assert [r.name for r in spec.standbys] == ["standby"]
    assert spec.gateway.mode is GatewayMode.ACTIVE_PASSIVE
    assert spec.gateway.check_interval_ms == 500 and (spec.gateway.fall, spec.gateway.rise) == (2, 2)
    assert (spec.model.items, spec.model.dim) == (50_000, 64)


def test_defaults_fill_in_and_node_names_follow_the_region(tmp_path: Path) -> None:
    spec = load_environment(write(tmp_path, GOOD))
    assert spec.standbys[0].nodes == 2
    assert spec.primary.node_names() == ["primary-0", "primary-1"]


def test_a_field_out_of_range_names_file_field_and_fix(tmp_path: Path) -> None:
    error = error_for(tmp_path, GOOD.replace("nodes: 2", "nodes: 0"))
    assert error.file.endswith("env.yaml")
    assert error.field == "regions[0].nodes"
    assert "greater than or equal to 1" in error.problem
    assert "1..16" in error.fix
    assert error.exit_code is ExitCode.INVALID_INPUT


def test_a_misspelt_field_is_an_error_listing_the_allowed_ones(tmp_path: Path) -> None:
    error = error_for(tmp_path, GOOD + "gateway: {mode: active-passive, chek_interval_ms: 100}\n")
    assert error.field == "gateway.chek_interval_ms"
    assert "check_interval_ms" in error.fix


def test_an_unknown_gateway_mode_lists_the_choices(tmp_path: Path) -> None:
    error = error_for(tmp_path, GOOD + "gateway: {mode: round-robin}\n")
    assert error.field == "gateway.mode"
    assert "active-passive" in error.problem and "active-active" in error.problem


def test_exactly_one_primary_and_a_standby_are_required(tmp_path: Path) -> None:
    error = error_for(tmp_path, GOOD.replace("role: standby", "role: primary"))
    assert "exactly one region with role: primary" in error.problem


def test_region_names_must_be_unique_rfc_1123_labels(tmp_path: Path) -> None:
    assert "unique" in error_for(tmp_path, GOOD.replace("name: standby", "name: primary")).problem
    assert load_environment(write(tmp_path, GOOD.replace("name: standby", "name: stand-by"))).standbys[0].name == "stand-by"
    for bad in ("stand_by", "Standby", "standby-", "-standby"):
        error = error_for(tmp_path, GOOD.replace("name: standby", f"name: {bad}"))
        assert error.field == "regions[1].name" and "not an RFC 1123 label" in error.problem, bad


def test_missing_required_field_says_to_add_it(tmp_path: Path) -> None:
    error = error_for(tmp_path, "name: local\n")
    assert error.field == "regions"
    assert error.fix.startswith("add the field")


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    error = error_for(tmp_path, "name: local\nregions: [\n")
    assert error.field.startswith("line ")
    assert "not valid YAML" in error.problem


def test_a_missing_file_is_a_spec_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="file not found"):
        load_environment(tmp_path / "nope.yaml")


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    assert "mapping" in error_for(tmp_path, "- a\n- b\n").problem
