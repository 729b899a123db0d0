"""Typed specs of the YAML files drillkit reads, and the one loader for them.

Everything is validated when it is loaded, before anything is started, and every error
names the file, the field and the fix. One module per file kind; this package re-exports
them so callers write ``from drillkit.spec import DrillSpec``:

>>> spec = load_environment("drills/environments/local.yaml")   # doctest: +SKIP
>>> spec.primary.name, [r.nodes for r in spec.regions]           # doctest: +SKIP
('primary', [2, 2])
"""

from drillkit.spec.backup import BackupSpec, StoreKind, StoreSpec
from drillkit.spec.drill import DrillSpec, FailOn, LoadSpec, RecoverySpec, SloSpec, load_drill
from drillkit.spec.environment import (
    EnvironmentSpec,
    GatewayMode,
    GatewaySpec,
    ModelSpec,
    PrometheusSpec,
    RegionRole,
    RegionSpec,
    WorkloadSpec,
    load_environment,
    model_cache,
    state_root,
)
from drillkit.spec.kubernetes import KubernetesSpec
from drillkit.spec.loader import Spec, load_spec
from drillkit.spec.policy import Budgets, Policy, Regression, load_policy
from drillkit.spec.suite import DrillOverrides, SuiteDrill, SuiteSpec, load_suite

__all__ = [
    "KubernetesSpec",
    "BackupSpec", "StoreKind", "StoreSpec",
    "DrillSpec", "EnvironmentSpec", "FailOn", "GatewayMode", "GatewaySpec", "LoadSpec", "ModelSpec",
    "PrometheusSpec", "RecoverySpec", "RegionRole", "RegionSpec", "SloSpec", "Spec", "WorkloadSpec",
    "load_drill", "load_environment", "load_spec", "model_cache", "state_root",
    "Budgets", "Policy", "Regression", "load_policy", "DrillOverrides", "SuiteDrill", "SuiteSpec", "load_suite",
]  # fmt: skip
