"""Closed-form series y = f(x, tau): the seed notebook's damped oscillation and a variant."""

import numpy as np


def damped_cos(x: np.ndarray, tau: float) -> np.ndarray:
    """The seed notebook's damped oscillation."""
    return np.exp(-x / tau) * np.cos(x)


def damped_sin(x: np.ndarray, tau: float) -> np.ndarray:
    """The same decay, starting at zero: a phase-shifted variant of the task."""
    return np.exp(-x / tau) * np.sin(x)
