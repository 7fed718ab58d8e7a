"""Per-seed metrics of a ModelRun: the columns of metrics.csv and the rows of the report.

A new metric is one function `ModelRun -> [seeds]` and one line in METRICS.
"""

from collections.abc import Callable

import numpy as np

from rnnjax.experiment import ModelRun


def final_loss(run: ModelRun) -> np.ndarray:
    return run.loss[:, -1]


def final_val_loss(run: ModelRun) -> np.ndarray:
    return run.val_loss[:, -1]


def best_val_loss(run: ModelRun) -> np.ndarray:
    """Lowest validation loss over the finite epochs (NaN if none was finite)."""
    val = np.where(np.isfinite(run.val_loss), run.val_loss, np.inf)
    best = val.min(axis=1)
    return np.where(np.isfinite(best), best, np.nan)


def forecast_rmse(run: ModelRun) -> np.ndarray:
    """RMSE of the closed-loop forecast against the true series, over the whole horizon."""
    return np.sqrt(np.mean((run.forecast - run.truth) ** 2, axis=1))


def amplitude_ratio(run: ModelRun) -> np.ndarray:
    """std of the forecast over the std of the truth, over the horizon: 1 reproduces the
    oscillation's size, near 0 is a flat forecast. RMSE alone favours a flat forecast over
    an oscillating one out of phase; this tells them apart."""
    return run.forecast.std(axis=1) / run.truth.std()


def epochs_to_reach(loss_SxE: np.ndarray, level: float) -> np.ndarray:
    """First epoch (1-based) whose loss is <= level; epochs + 1 for a seed that never gets there."""
    reached = loss_SxE <= level
    return np.where(reached.any(axis=1), reached.argmax(axis=1) + 1, loss_SxE.shape[1] + 1)


METRICS: dict[str, Callable[[ModelRun], np.ndarray]] = {
    "final_loss": final_loss,
    "final_val_loss": final_val_loss,
    "best_val_loss": best_val_loss,
    "forecast_rmse": forecast_rmse,
    "amplitude_ratio": amplitude_ratio,
}


def metric_rows(runs: dict[str, ModelRun]) -> list[dict]:
    """One row per (model, seed), as written to metrics.csv."""
    rows = []
    for name, run in runs.items():
        values = {metric: fn(run) for metric, fn in METRICS.items()}
        for seed in range(run.cfg.seeds):
            row = {"model": name, "seed": seed, "params": run.params}
            row |= {metric: float(v[seed]) for metric, v in values.items()}
            rows.append(row | {"diverged": bool(run.diverged[seed]), "diverged_epoch": int(run.diverged_epoch[seed])})
    return rows
