"""``python -m drillkit``: the ``drillkit`` command, for an interpreter without the console script.

A venv assembled from carried packages (the GPU machine, README "GPU machine") has drillkit on
its path only through the working tree, so it has no ``drillkit`` script to call.
"""

from drillkit.cli import main

main()
