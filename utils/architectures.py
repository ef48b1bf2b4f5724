"""Former name of the builders in :mod:`utils.autoencoders` (kept until every chapter is re-run)."""

from .autoencoders import *  # noqa: F403
