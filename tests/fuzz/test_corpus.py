"""Every bad input the issue lists (tests/fuzz/cases.py) is refused by its loader with the
project's error, naming the file and the field: one deterministic case each."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import pytest

from drillkit.errors import ExitCode, SpecError
from tests.fuzz.cases import Case, build

_ROOT = Path(tempfile.mkdtemp(prefix="drillkit-corpus-"))
atexit.register(shutil.rmtree, _ROOT, True)
CASES = build(_ROOT)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_bad_input_is_refused_naming_its_file_and_field(case: Case) -> None:
    with pytest.raises(SpecError) as caught:
        case.load()
    error = caught.value
    assert (error.file, error.field) == (str(case.file), case.field), str(error)
    assert error.exit_code is ExitCode.INVALID_INPUT and error.fix
