"""Hypothesis profiles for the fuzz suite.

``ci`` (the default, used by ``make test``) is seeded and small enough that every test in
tests/fuzz together stays under about 60 s on a 2-core machine. ``long`` (``make fuzz``)
tries many more examples. Pick one with ``DRILLKIT_FUZZ_PROFILE=long``.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# derandomize: the same examples on every run, so a CI failure reproduces locally and a
# green run means the same thing twice. database=None: no .hypothesis folder in the tree.
settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    database=None,
    max_examples=40,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile(
    "long",
    derandomize=False,
    deadline=None,
    database=None,
    max_examples=2000,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile(os.environ.get("DRILLKIT_FUZZ_PROFILE", "ci"))
