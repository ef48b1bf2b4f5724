"""Pytest plugin loaded by the course's test command (``-p utils.pytest_plugin`` in pyproject.toml).

It runs before collection, so every Jupyter kernel that nbval starts inherits these settings:

- ``COURSE_SMOKE=1``: notebooks run every cell on a tiny budget (set ``COURSE_SMOKE=0`` yourself to
  execute the chapters in full mode under pytest).
- ``MPLBACKEND=Agg``: plots render without a display.
- ``COURSE_NO_DOWNLOAD=1``: tests never touch the network; MNIST must come from a local file.

Importing this module imports ``utils`` first, which, in a pytest-xdist worker, shares the CPU's
cores between the workers before Keras starts its backend
(:func:`utils.runtime.share_cores_between_test_workers`).
"""

import os

os.environ.setdefault("COURSE_SMOKE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ["COURSE_NO_DOWNLOAD"] = "1"
