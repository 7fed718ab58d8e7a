"""Fused Pallas kernels (Triton on GPU) beside the pure-JAX cells they replace."""

from rnnjax.core.kernels.recurrence import SUPPORTED, hidden_sequence

__all__ = ["SUPPORTED", "hidden_sequence"]
