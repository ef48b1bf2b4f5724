"""Former home of :func:`utils.autoencoders.fit_reconstruction` (kept until every chapter is re-run)."""

from .autoencoders import fit_reconstruction  # noqa: F401
