"""The release and commit under test that every journal records (section ``release``)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from drillkit.provenance import release_under_test


def _git(folder: Path, *args: str) -> str:
    done = subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=folder, capture_output=True,
                          text=True, check=True, timeout=30)  # fmt: skip
    return done.stdout.strip()


def test_the_pipeline_variables_win(tmp_path: Path) -> None:
    found = release_under_test(environ={"DRILLKIT_RELEASE": "v3.1.0", "DRILLKIT_COMMIT": "feedbeef"}, cwd=tmp_path)
    assert found == {"release": "v3.1.0", "commit": "feedbeef"}


def test_a_git_checkout_gives_its_tag_and_commit(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q")
    (tmp_path / "f").write_text("x")
    _git(tmp_path, "add", "f")
    _git(tmp_path, "commit", "-q", "-m", "one")
    _git(tmp_path, "tag", "v1.2.3")
    found = release_under_test(environ={}, cwd=tmp_path)
    assert found == {"release": "v1.2.3", "commit": _git(tmp_path, "rev-parse", "HEAD")}
    (tmp_path / "f").write_text("changed")
    assert release_under_test(environ={}, cwd=tmp_path)["release"] == "v1.2.3-dirty"


def test_outside_a_repository_both_are_unknown(tmp_path: Path) -> None:
    assert release_under_test(environ={}, cwd=tmp_path) == {"release": None, "commit": None}
