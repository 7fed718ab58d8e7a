"""Per-seed metrics of a Result: the columns of metrics.csv, the rows of the report, the
statistics of summary.json, and (those marked `sweep`) the panels of a sweep's figure.

A new metric is one function `Result -> [seeds]` and one entry in METRICS, which says how
to label it and which way is better; every output reads it from there (through `value`).
With several predicted channels a metric marked `per_channel` is computed on each channel
alone (`Result.channel`: a one-channel forecast, truth and history) and averaged over them:
MASE is the mean of the channels' MASEs, each scaled by its own naive error.
"""

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from rnnjax.study.results import Result


def final_loss(run: Result) -> np.ndarray:
    """The training loss of the epoch whose parameters the run ends with (the last one, or
    with early stopping the best epoch it restores or the epoch it stopped at)."""
    return run.at_kept_epoch(run.loss)


def final_val_loss(run: Result) -> np.ndarray:
    return run.at_kept_epoch(run.val_loss)


def best_val_loss(run: Result) -> np.ndarray:
    """Lowest validation loss over the finite epochs (NaN if none was finite)."""
    val = np.where(np.isfinite(run.val_loss), run.val_loss, np.inf)
    best = val.min(axis=1)
    return np.where(np.isfinite(best), best, np.nan)


def rmse(forecast_SxH: np.ndarray, truth_H: np.ndarray, history_T=None) -> np.ndarray:
    """Root mean squared error over the horizon, per forecast."""
    return np.sqrt(np.mean((forecast_SxH - truth_H) ** 2, axis=-1))


def mae(forecast_SxH: np.ndarray, truth_H: np.ndarray, history_T=None) -> np.ndarray:
    """Mean absolute error over the horizon, per forecast."""
    return np.mean(np.abs(forecast_SxH - truth_H), axis=-1)


def smape(forecast_SxH: np.ndarray, truth_H: np.ndarray, history_T=None) -> np.ndarray:
    """Symmetric MAPE in percent: 200/H sum |f - y| / (|f| + |y|) (a 0/0 term counts 0)."""
    num, den = np.abs(forecast_SxH - truth_H), np.abs(forecast_SxH) + np.abs(truth_H)
    return 200.0 * np.mean(np.divide(num, den, out=np.zeros_like(num, dtype=np.float64), where=den > 0), axis=-1)


def mase(forecast_SxH: np.ndarray, truth_H: np.ndarray, history_T: np.ndarray) -> np.ndarray:
    """Mean absolute scaled error (Hyndman & Koehler 2006): the forecast's MAE over the
    in-sample MAE of the one-step naive forecast on every value before the origin; below 1
    beats that naive forecast's in-sample error. NaN where the history never changes."""
    scale = np.mean(np.abs(np.diff(np.asarray(history_T, np.float64))))
    return mae(forecast_SxH, truth_H) / scale if scale > 0 else np.full(np.shape(forecast_SxH)[:-1], np.nan)


def history(run: Result) -> np.ndarray:
    """The observed values before the run's forecast origin (data units): of its channel,
    for a one-channel view of a run with several."""
    from rnnjax.core import data as data_lib  # NumPy only: the series and its noise

    values = data_lib.history(run.cfg)
    return values if values.ndim == 1 else values[:, data_lib.targets(run.cfg)[run.target or 0]]


def forecast_rmse(run: Result) -> np.ndarray:
    """RMSE of the closed-loop forecast against the true series, over the whole horizon."""
    return np.sqrt(np.mean((run.forecast - run.truth) ** 2, axis=1))


def forecast_mae(run: Result) -> np.ndarray:
    return mae(run.forecast, run.truth)


def forecast_smape(run: Result) -> np.ndarray:
    return smape(run.forecast, run.truth)


def forecast_mase(run: Result) -> np.ndarray:
    return mase(run.forecast, run.truth, history(run))


def amplitude_ratio(run: Result) -> np.ndarray:
    """std of the forecast over the std of the truth, over the horizon: 1 reproduces the
    oscillation's size, near 0 is a flat forecast. RMSE alone favours a flat forecast over
    an oscillating one out of phase; this tells them apart."""
    return run.forecast.std(axis=1) / run.truth.std()


def epochs_to_reach(loss_SxE: np.ndarray, level: float) -> np.ndarray:
    """First epoch (1-based) whose loss is <= level; epochs + 1 for a seed that never gets there."""
    reached = loss_SxE <= level
    return np.where(reached.any(axis=1), reached.argmax(axis=1) + 1, loss_SxE.shape[1] + 1)


class Metric(NamedTuple):
    fn: Callable[[Result], np.ndarray]
    label: str  # for tables and axes
    lower_is_better: bool | None  # None: neither (best at some value, e.g. 1)
    sweep: bool = False  # summarised per grid point and drawn in a sweep's figure
    log_scale: bool = True  # drawn on a log axis
    # a function of the forecast alone, (forecasts [S, H], truth [H], history [T]) -> [S]:
    # how a baseline's forecast is scored with the same metric
    of_forecast: Callable[..., np.ndarray] | None = None
    # several channels: computed per predicted channel and averaged; False: of the whole run
    # (the losses, which cover every channel already)
    per_channel: bool = True


METRICS: dict[str, Metric] = {
    "final_loss": Metric(final_loss, "final training loss (MSE)", True, per_channel=False),
    "final_val_loss": Metric(final_val_loss, "final validation loss (MSE)", True, sweep=True, per_channel=False),
    "best_val_loss": Metric(best_val_loss, "best validation loss (MSE)", True, per_channel=False),
    "forecast_rmse": Metric(forecast_rmse, "forecast RMSE", True, sweep=True, of_forecast=rmse),
    "forecast_mae": Metric(forecast_mae, "forecast MAE", True, of_forecast=mae),
    "forecast_smape": Metric(forecast_smape, "forecast sMAPE (%)", True, of_forecast=smape),
    "mase": Metric(forecast_mase, "forecast MASE (in-sample naive MAE = 1)", True, of_forecast=mase),
    "amplitude_ratio": Metric(amplitude_ratio, "forecast amplitude / true amplitude", None),
}
SWEEP_METRICS = tuple(name for name, m in METRICS.items() if m.sweep)


class MetricError(ValueError):
    """A registered metric whose function does not return one number per seed."""


def _per_seed(run: Result, metric: str) -> np.ndarray:
    """METRICS[metric].fn(run), checked: one number per seed (a user's metric returning
    another count was silently cut to the seeds in metrics.csv)."""
    values = np.asarray(METRICS[metric].fn(run))
    if values.shape != (run.cfg.seeds,) or values.dtype.kind not in "biuf":
        raise MetricError(
            f"metric {metric!r} returned {values.dtype} values of shape {values.shape}: "
            f"it must return one number per seed, shape ({run.cfg.seeds},)"
        )
    return values


def by_channel(run: Result, metric: str) -> dict[str, np.ndarray] | None:
    """{channel: [seeds]} of a per-channel metric of a run with several channels, else None."""
    names = run.channels
    if names is None or not METRICS[metric].per_channel:
        return None
    return {c: _per_seed(run.channel(k), metric) for k, c in enumerate(names)}


def value(run: Result, metric: str) -> np.ndarray:
    """[seeds] of `metric`: its function of the run, or with several channels (a
    per-channel metric) the mean over the channels of its value on each."""
    per = by_channel(run, metric)
    return _per_seed(run, metric) if per is None else np.mean(list(per.values()), axis=0)


def score(metric: str, forecast_SxH, truth_H, history_T) -> np.ndarray:
    """[S] of a forecast metric (`of_forecast`) of S forecasts; several channels (forecasts
    [S, H, K], truth [H, K], history [T, K]): the mean over the channels of each one's."""
    fn = METRICS[metric].of_forecast
    if np.ndim(truth_H) == 1:
        return fn(forecast_SxH, truth_H, history_T)
    return np.mean([fn(forecast_SxH[..., k], truth_H[:, k], history_T[:, k]) for k in range(truth_H.shape[1])], axis=0)


def metric_rows(runs: dict[str, Result], keys: tuple[str, ...] = ()) -> list[dict]:
    """One row per (model, seed), as written to metrics.csv; `keys` (Config fields, e.g. a
    backtest's `fold` and `origin`) lead each row after the model. Several channels: each
    per-channel metric's value on each channel too, as `metric[channel]` after the means."""
    rows = []
    for name, run in runs.items():
        values = {metric: value(run, metric) for metric in METRICS}
        per = {metric: by_channel(run, metric) for metric in METRICS}
        values |= {f"{m}[{c}]": v for m, channels in per.items() if channels for c, v in channels.items()}
        diverged = run.diverged
        for seed in range(run.cfg.seeds):
            row = {"model": name} | {k: getattr(run.cfg, k) for k in keys} | {"seed": seed, "params": run.n_params}
            row |= {metric: float(v[seed]) for metric, v in values.items()}
            row |= {"diverged": bool(diverged[seed]), "diverged_epoch": int(run.diverged_epoch[seed])}
            if run.stopped_epoch is not None:  # early stopping: where each run stopped and what it kept
                row |= {"stopped_epoch": int(run.stopped_epoch[seed]), "best_epoch": int(run.best_epoch[seed])}
            rows.append(row)
    return rows
