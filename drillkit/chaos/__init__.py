"""drillkit's Chaos Toolkit extension.

Experiments name activities by module and function, as Chaos Toolkit does:
``{"type": "python", "module": "drillkit.chaos.actions", "func": "crash_node"}``. Every
activity acts on the environment named in the experiment's ``configuration``
(``drillkit_env``: an environment YAML) or in ``DRILLKIT_ENV``, through the ``Platform``
protocol, so the same experiment runs on every platform.
"""
