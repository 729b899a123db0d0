"""The Kubernetes platform's parts: manifests as pure functions (``render_*``), the API client
and its context guard (``client``, ``clusters``), ``deploy``, ``status`` and the faults.
``drillkit.platforms.kubernetes.KubernetesPlatform`` puts them together."""
