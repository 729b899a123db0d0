"""One rooted exception tree and the process exit codes.

```
DrillkitError                      every error drillkit raises on purpose
├── PlanError                      raised before anything is touched (exit INVALID_INPUT)
│   ├── SpecError                  a YAML file or CLI value is wrong: names file, field, fix
│   └── ModelRepositoryError       a model repository fails its manifest (refused, never served)
└── EnvironmentFailure             the system under test or the host failed (exit ENVIRONMENT)
    ├── MissingDependencyError     haproxy / prometheus / tritonserver not installed
    ├── AlreadyUpError             a second `up` of a running environment
    ├── NotUpError                 `status` / `down` / a drill against no running environment
    ├── StartupError               a component died or never became ready during `up`
    └── ComponentError             a running component answered wrongly (gateway, proxy, node)
```

Plan errors and environment failures are kept apart so that a release gate can tell
"your drill file is wrong" from "the platform broke" from "the drill failed".
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes; the README lists them for pipelines that gate on them."""

    OK = 0
    DRILL_FAILED = 1  # an SLO or recovery budget was breached
    INVALID_INPUT = 2  # bad spec, experiment, trace or CLI value; nothing was touched
    ROLLBACK_FAILED = 3  # a fault could not be undone: run `drillkit recover`
    ENVIRONMENT = 4  # the environment or a dependency failed
    INTERRUPTED = 130  # Ctrl-C; rollbacks ran


class DrillkitError(Exception):
    """Root of every error drillkit raises on purpose."""

    exit_code: ExitCode = ExitCode.ENVIRONMENT


class PlanError(DrillkitError):
    """Raised before anything is touched: the input is wrong."""

    exit_code = ExitCode.INVALID_INPUT


class SpecError(PlanError):
    """A spec value is invalid. The message names the file, the field and the fix.

    >>> str(SpecError("env.yaml", "regions[0].nodes", "must be >= 1", "set nodes: 2"))
    'env.yaml: regions[0].nodes: must be >= 1 (fix: set nodes: 2)'
    """

    def __init__(self, file: str, field: str, problem: str, fix: str) -> None:
        self.file, self.field, self.problem, self.fix = file, field, problem, fix
        super().__init__(f"{file}: {field}: {problem} (fix: {fix})")


class ModelRepositoryError(PlanError):
    """A model repository version is missing, incomplete or does not match its manifest."""


class EnvironmentFailure(DrillkitError):
    """The environment or the host failed (not the drill, not the input)."""

    exit_code = ExitCode.ENVIRONMENT


class MissingDependencyError(EnvironmentFailure):
    """A required program is not installed."""


class AlreadyUpError(EnvironmentFailure):
    """The environment is already running; nothing was started twice."""


class NotUpError(EnvironmentFailure):
    """No running environment was found where one was expected."""


class StartupError(EnvironmentFailure):
    """A component died or did not become ready during start-up."""


class ComponentError(EnvironmentFailure):
    """A running component (gateway, fault proxy, node) answered wrongly."""
