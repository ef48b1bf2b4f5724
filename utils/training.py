"""Former home of :func:`utils.autoencoders.fit_reconstruction` (kept until the chapters are
re-run)."""

from .autoencoders import fit_reconstruction  # noqa: F401
