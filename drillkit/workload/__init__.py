"""Workloads: any Triton model repository, its golden answers and its traffic (the built-in
recommender in ``drillkit.model`` is one workload among others)."""
