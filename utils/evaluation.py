"""Former name of :mod:`utils.reconstruction` (and of three helpers now in :mod:`utils.likelihood`).

Kept only so that chapters executed before the reorganisation still run; new code imports
:mod:`utils.reconstruction` and :mod:`utils.likelihood`. Removed once every chapter is re-run.
"""

from .likelihood import fit_independent_bernoulli, nats_to_bits_per_dim  # noqa: F401
from .reconstruction import *  # noqa: F403
from .reconstruction import per_image_binary_cross_entropy  # noqa: F401
