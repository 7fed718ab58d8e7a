"""The series (the damped y = exp(-x/tau)·cos(x) by default) and the notebook's sliding windows.

A new series is a function of (x, tau) added to SERIES; `--series NAME` then selects it.
"""

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from rnnjax.core.config import Config


class Windows(NamedTuple):
    """Inputs and one-step-shifted targets, split as Keras `validation_split` does."""

    x_train: np.ndarray  # [n_train, window, 1]
    y_train: np.ndarray
    x_val: np.ndarray  # [n_val, window, 1]
    y_val: np.ndarray


def damped_cos(x: np.ndarray, tau: float) -> np.ndarray:
    """The seed notebook's damped oscillation."""
    return np.exp(-x / tau) * np.cos(x)


def damped_sin(x: np.ndarray, tau: float) -> np.ndarray:
    """The same decay, starting at zero: a phase-shifted variant of the task."""
    return np.exp(-x / tau) * np.sin(x)


SERIES: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    "damped_cos": damped_cos,
    "damped_sin": damped_sin,
}


def grid(cfg: Config, n: int | None = None) -> np.ndarray:
    """x at sample index 0..n-1 with the series' spacing; n > n_points extends past x_stop."""
    n = cfg.n_points if n is None else n
    step = (cfg.x_stop - cfg.x_start) / (cfg.n_points - 1)
    return cfg.x_start + step * np.arange(n, dtype=np.float64)


def series(cfg: Config, n: int | None = None) -> np.ndarray:
    """cfg.series sampled on `grid`; float64, as the notebook computes it."""
    return SERIES[cfg.series](grid(cfg, n), cfg.tau)


def windows(y: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """r_x[i] = y[i:i+window], r_y[i] = y[i+1:i+window+1], shaped [n, window, 1] as in the seed."""
    n = len(y) - window
    idx = np.arange(n)[:, None] + np.arange(window)[None, :]
    return y[idx][..., None], y[idx + 1][..., None]


def split(cfg: Config) -> Windows:
    """All windows of the series as float32; the last n_val are validation, never shuffled."""
    r_x, r_y = windows(series(cfg), cfg.window)
    r_x, r_y = r_x.astype(np.float32), r_y.astype(np.float32)
    k = cfg.n_train
    return Windows(r_x[:k], r_y[:k], r_x[k:], r_y[k:])


def forecast_truth(cfg: Config) -> tuple[np.ndarray, np.ndarray]:
    """(context, truth) of the seed's closed-loop protocol.

    The context is the first target window y[1 : window+1]; the rollout predicts
    y[window+1 : window+1+horizon]. The default horizon (180) runs one sample past
    the 200 stored points, so the truth is the analytic series extended on the same grid.
    """
    y = series(cfg, cfg.window + 1 + cfg.horizon)
    return y[1 : cfg.window + 1], y[cfg.window + 1 :]
